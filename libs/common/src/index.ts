export * from './config';
export * from './logger';
export * from './queues';
export * from './redis';
export * from './local-redis';
export * from './ops-server';
export * from './version-queues';
export * from './job-waiter';
