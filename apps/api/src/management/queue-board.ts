import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import {
  BATCH_QUEUE,
  SHADOW_QUEUE,
  WEBHOOK_QUEUE,
  batchParentQueueName,
  bulkQueueName,
  predictionQueueName,
  QUEUE_BOARD_PATH,
} from '@app/common';
import { deliversWebhooks } from '../config';
import type { SharedServices } from '../core/core.module';

export { QUEUE_BOARD_PATH };

/**
 * Mounts Bull Board on the management app, behind the app's guard like every route of it (the
 * management token: Bearer, or Basic with the token as password so a browser can log in). It
 * lists the queues of every registered model version, the batch and shadow queues, and the
 * webhooks queue while webhooks are delivered; refreshed at most once a second.
 */
export async function mountQueueBoard(
  app: NestFastifyApplication,
  shared: SharedServices,
): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'modelfleet' } },
  });
  const readOnlyMode = shared.config.QUEUE_BOARD_READ_ONLY;
  const webhooks = deliversWebhooks(shared.config);
  let refreshedAt = 0;
  const refresh = async () => {
    if (Date.now() - refreshedAt < 1000) return;
    refreshedAt = Date.now();
    const names = (await shared.registry.listModels()).flatMap((m) =>
      m.versions.flatMap((v) => [
        predictionQueueName(v.name, v.version),
        bulkQueueName(v.name, v.version),
        batchParentQueueName(v.name, v.version),
      ]),
    );
    // The webhooks queue only while this API delivers from it: else the board would show it
    // with "No workers", as if a consumer had died.
    const own = [BATCH_QUEUE, SHADOW_QUEUE, ...(webhooks ? [WEBHOOK_QUEUE] : [])];
    board.replaceQueues(
      [...names, ...own].map(
        (name) => new BullMQAdapter(shared.queues.queue(name), { readOnlyMode }),
      ),
    );
  };
  // A scope of its own: the refresh runs before the board's routes only (and after the app's
  // request hooks, so never for a caller without the token).
  await app.register(async (scope: FastifyInstance) => {
    scope.addHook('preHandler', refresh);
    await scope.register(serverAdapter.registerPlugin(), { prefix: QUEUE_BOARD_PATH });
  });
}
