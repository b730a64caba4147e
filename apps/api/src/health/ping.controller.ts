import { Controller, Get } from '@nestjs/common';
import { Problem } from '../core/problem';
import { FleetHealth } from './fleet-health';

/** Ping (TorchServe's health check) and the liveness and readiness probes. */
@Controller()
export class PingController {
  constructor(private readonly health: FleetHealth) {}

  /** Healthy when Redis answers and every model's default version has a live worker. */
  @Get('ping')
  async ping(): Promise<{ status: 'Healthy' }> {
    await this.ready();
    const problem = await this.health.servingProblem();
    if (problem) throw new Problem(503, 'Unhealthy', problem);
    return { status: 'Healthy' };
  }

  /** Liveness: the process answers. */
  @Get('healthz')
  live(): { status: 'alive' } {
    return { status: 'alive' };
  }

  /** Readiness: Redis answers (the API needs nothing else to accept work). */
  @Get('readyz')
  async ready(): Promise<{ status: 'ready' }> {
    const problem = await this.health.redisProblem();
    if (problem) throw new Problem(503, 'Not ready', problem).retryAfter(2);
    return { status: 'ready' };
  }
}
