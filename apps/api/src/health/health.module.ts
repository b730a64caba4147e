import { Module } from '@nestjs/common';
import { RedisProbe } from '../core/redis-probe';
import { FleetHealth } from './fleet-health';
import { PingController } from './ping.controller';

/** Ping (TorchServe's health check), liveness and readiness; the fleet's health for others. */
@Module({
  controllers: [PingController],
  providers: [RedisProbe, FleetHealth],
  exports: [FleetHealth],
})
export class HealthModule {}
