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
import { Acknowledgement } from './acknowledgement';
import { ApiLogger } from './api-logger';
import { ModelCatalog } from './model-catalog';
import { ProblemFilter } from './problem.filter';

/** Injection token of the Redis connection; only stores inject it. */
export const REDIS = Symbol('REDIS');

/** Injection token of the connection that waits for Redis to come back (queue consumers'). */
export const CONSUMER_REDIS = Symbol('CONSUMER_REDIS');

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
  /** REDIS_ACK_REPLICAS: accepted jobs wait for their replicas. */
  acknowledgement: Acknowledgement;
}

/**
 * What every feature of an app may inject: settings, the Redis connection (for stores), the
 * registry, queues and their progress counters, the job waiter, metrics, the model catalog, the
 * logger (pino, with the request id inside a request), and problem+json answers for every error.
 */
@Global()
@Module({})
export class CoreModule {
  static forRoot(shared: SharedServices): DynamicModule {
    const providers = [
      { provide: API_CONFIG, useValue: shared.config },
      { provide: REDIS, useValue: shared.redis },
      { provide: CONSUMER_REDIS, useValue: shared.consumerRedis },
      { provide: ModelRegistry, useValue: shared.registry },
      { provide: ApiMetrics, useValue: shared.metrics },
      { provide: VersionQueues, useValue: shared.queues },
      { provide: QueueProgress, useValue: shared.progress },
      { provide: JobWaiter, useValue: shared.waiter },
      { provide: ModelCatalog, useValue: shared.catalog },
      { provide: Acknowledgement, useValue: shared.acknowledgement },
      ApiLogger,
    ];
    return {
      module: CoreModule,
      // The logger of PinoLogger and ApiLogger. No middleware of its own (`forRoutes: []`): the
      // app binds each request's logger itself, in a request hook (see http-app.ts).
      imports: [
        LoggerModule.forRoot({
          pinoHttp: { logger: shared.logger },
          useExisting: true,
          forRoutes: [],
        }),
      ],
      providers: [...providers, { provide: APP_FILTER, useClass: ProblemFilter }],
      exports: [...providers, LoggerModule],
    };
  }
}
