import { Module } from '@nestjs/common';
import { HealthModule } from '../health/health.module';
import { PredictionsModule } from '../predictions/predictions.module';
import { OpenInferenceService } from './open-inference.service';
import { V2Controller } from './v2.controller';

/**
 * The Open Inference Protocol (KServe v2): REST routes under `/v2`, and the service the gRPC
 * server (`grpc/`) answers with.
 */
@Module({
  imports: [HealthModule, PredictionsModule],
  controllers: [V2Controller],
  providers: [OpenInferenceService],
  exports: [OpenInferenceService],
})
export class V2Module {}
