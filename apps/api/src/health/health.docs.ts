import { applyDecorators } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import {
  JsonAnswer,
  Operation,
  Problems,
  REDIS_UNAVAILABLE,
  responseSchema,
} from '../core/api-docs';

const statusOf = (id: string, status: string) =>
  responseSchema(id, z.object({ status: z.literal(status) }));

export const HealthDocs = () => ApiTags('health');

/** The health checks are open: they need no API key. */
export const PingDocs = () =>
  applyDecorators(
    Operation({
      id: 'ping',
      summary: "TorchServe's health check: Redis answers and every default version has a worker",
      security: [],
    }),
    JsonAnswer(200, 'healthy', statusOf('Healthy', 'Healthy')),
    Problems({
      503: `no model is registered; a default version has no live worker; or ${REDIS_UNAVAILABLE} (with Retry-After)`,
    }),
  );

export const LivenessDocs = () =>
  applyDecorators(
    Operation({ id: 'liveness', summary: 'Liveness: the process answers', security: [] }),
    JsonAnswer(200, 'alive', statusOf('Alive', 'alive')),
  );

export const ReadinessDocs = () =>
  applyDecorators(
    Operation({ id: 'readiness', summary: 'Readiness: Redis answers', security: [] }),
    JsonAnswer(200, 'ready', statusOf('Ready', 'ready')),
    Problems({ 503: REDIS_UNAVAILABLE }),
  );
