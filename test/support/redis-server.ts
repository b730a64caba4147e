import { LocalRedis } from '@app/common';

export { freePort } from '@app/common';

/** A throwaway redis-server on a free port, with no persistence. */
export const startTestRedis = (): Promise<LocalRedis> => LocalRedis.start();
export type TestRedis = LocalRedis;
