import { Module } from '@nestjs/common';
import { RedisProbe } from '../core/redis-probe';
import { PingController } from './ping.controller';

/** Ping (TorchServe's health check), liveness and readiness. */
@Module({ controllers: [PingController], providers: [RedisProbe] })
export class HealthModule {}
