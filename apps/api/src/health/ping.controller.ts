import { Controller, Get } from '@nestjs/common';
import { ModelRegistry, versionKey } from '@app/registry';
import { Problem } from '../core/problem';
import { RedisProbe } from '../core/redis-probe';
import { HealthDocs, LivenessDocs, PingDocs, ReadinessDocs } from './health.docs';

/** Ping (TorchServe's health check) and the liveness and readiness probes. */
@HealthDocs()
@Controller()
export class PingController {
  constructor(
    private readonly redis: RedisProbe,
    private readonly registry: ModelRegistry,
  ) {}

  /** Healthy when Redis answers and every model's default version has a live worker. */
  @Get('ping')
  @PingDocs()
  async ping(): Promise<{ status: 'Healthy' }> {
    await this.ready();
    const models = await this.registry.listModels();
    if (models.length === 0) throw new Problem(503, 'Unhealthy', 'no model is registered');
    const counts = await this.registry.workerCounts();
    const unserved = models
      .filter((m) => !counts.get(versionKey(m.name, m.defaultVersion ?? '')))
      .map((m) => `${m.name} ${m.defaultVersion}`);
    if (unserved.length) {
      throw new Problem(
        503,
        'Unhealthy',
        `no live worker serves the default version of: ${unserved.join(', ')}`,
      );
    }
    return { status: 'Healthy' };
  }

  /** Liveness: the process answers. */
  @Get('healthz')
  @LivenessDocs()
  live(): { status: 'alive' } {
    return { status: 'alive' };
  }

  /** Readiness: Redis answers (the API needs nothing else to accept work). */
  @Get('readyz')
  @ReadinessDocs()
  async ready(): Promise<{ status: 'ready' }> {
    const problem = await this.redis.problem();
    if (problem) throw new Problem(503, 'Not ready', problem).retryAfter(2);
    return { status: 'ready' };
  }
}
