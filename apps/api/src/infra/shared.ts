import type { Provider } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ModelRegistry } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { ApiMetrics } from '../metrics/api-metrics';
import { QueueHub } from './queue-hub';

/** Injection token of the Redis connection the process shares between its HTTP apps. */
export const REDIS = Symbol('REDIS');

/** What the inference and management apps of one process share. */
export interface SharedServices {
  config: ApiConfig;
  redis: Redis;
  registry: ModelRegistry;
  metrics: ApiMetrics;
  queues: QueueHub;
}

export const sharedProviders = (shared: SharedServices): Provider[] => [
  { provide: API_CONFIG, useValue: shared.config },
  { provide: REDIS, useValue: shared.redis },
  { provide: ModelRegistry, useValue: shared.registry },
  { provide: ApiMetrics, useValue: shared.metrics },
  { provide: QueueHub, useValue: shared.queues },
];
