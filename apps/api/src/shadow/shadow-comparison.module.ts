import { Module } from '@nestjs/common';
import { PredictionsModule } from '../predictions/predictions.module';
import { ShadowComparer } from './shadow-comparer';
import { ShadowModule } from './shadow.module';

/**
 * Compares shadow answers with the primaries' from SHADOW_QUEUE: it reads predictions, so it
 * depends on that feature, which depends only on ShadowModule.
 */
@Module({
  imports: [ShadowModule, PredictionsModule],
  providers: [ShadowComparer],
})
export class ShadowComparisonModule {}
