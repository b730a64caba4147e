import { Module } from '@nestjs/common';
import { ShadowService } from './shadow.service';
import { ShadowStore } from './shadow.store';
import { ShadowTraffic } from './shadow-traffic';

/** Shadow copies and statistics: what predictions copy through, and management sets and reads. */
@Module({
  providers: [ShadowStore, ShadowTraffic, ShadowService],
  exports: [ShadowStore, ShadowTraffic, ShadowService],
})
export class ShadowModule {}
