export * from './model-registry';
export * from './records';
export * from './traffic';
