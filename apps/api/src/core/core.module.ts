import { Global, Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import {
  JobWaiter,
  QueueProgress,
  VersionQueues,
  type Logger,
  type RedisConnection,
} from '@app/common';
import { ModelRegistry } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { ApiMetrics } from '../metrics/api-metrics';
import { ApiLogger } from './http-app';
import { ModelCatalog } from './model-catalog';
import { ProblemFilter } from './problem.filter';

/** Injection token of the Redis connection; only stores inject it. */
export const REDIS = Symbol('REDIS');

/** What the inference and management apps of one process share. */
export interface SharedServices {
  config: ApiConfig;
  logger: Logger;
  /** Fails fast while Redis is away: for request handling (stores, registry, producers). */
  redis: RedisConnection;
  /** Waits for Redis to come back: for queue consumers and job listeners. */
  consumerRedis: RedisConnection;
  registry: ModelRegistry;
  metrics: ApiMetrics;
  queues: VersionQueues;
  /** The queues' progress counters (positions and estimates); one for the process. */
  progress: QueueProgress;
  waiter: JobWaiter;
  catalog: ModelCatalog;
}

/**
 * What every feature of an app may inject: settings, the Redis connection (for stores), the
 * registry, queues and their progress counters, the job waiter, metrics, the model catalog, the
 * logger (pino, with the request id inside a request), and problem+json answers for every error.
 */
@Global()
@Module({})
export class CoreModule {
  /**
   * `bindRequestLogger: false` for an app that binds each request's logger itself (the Fastify
   * app does, in a request hook: see fastify-app.ts).
   */
  static forRoot(shared: SharedServices, { bindRequestLogger = true } = {}): DynamicModule {
    const providers = [
      { provide: API_CONFIG, useValue: shared.config },
      { provide: REDIS, useValue: shared.redis },
      { provide: ModelRegistry, useValue: shared.registry },
      { provide: ApiMetrics, useValue: shared.metrics },
      { provide: VersionQueues, useValue: shared.queues },
      { provide: QueueProgress, useValue: shared.progress },
      { provide: JobWaiter, useValue: shared.waiter },
      { provide: ModelCatalog, useValue: shared.catalog },
      ApiLogger,
    ];
    return {
      module: CoreModule,
      // The access log middleware is mounted first by the app itself (see http-app.ts), so
      // requests refused by a body parser are logged too; this binds its child logger to the
      // request for every line logged while handling it.
      imports: [
        LoggerModule.forRoot({
          pinoHttp: { logger: shared.logger },
          useExisting: true,
          ...(bindRequestLogger ? {} : { forRoutes: [] }),
        }),
      ],
      providers: [...providers, { provide: APP_FILTER, useClass: ProblemFilter }],
      exports: [...providers, LoggerModule],
    };
  }
}
