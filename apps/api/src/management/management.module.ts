import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule, type SharedServices } from '../core/core.module';
import { ShadowModule } from '../shadow/shadow.module';
import { ModelPackages } from './model-packages';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';
import { ShadowController } from './shadow.controller';

/** The management API (default port 8081), behind a bearer token. */
@Module({})
export class ManagementModule {
  static forRoot(shared: SharedServices): DynamicModule {
    return {
      module: ManagementModule,
      imports: [CoreModule.forRoot(shared), ShadowModule],
      // The shadow's routes first: ModelsController's /models/{name}/{version} would take them.
      controllers: [ShadowController, ModelsController],
      providers: [ModelPackages, ModelsService],
    };
  }
}
