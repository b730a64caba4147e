import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule, type SharedServices } from '../core/core.module';
import { ModelPackages } from './model-packages';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

/** The management API (default port 8081), behind a bearer token. */
@Module({})
export class ManagementModule {
  static forRoot(shared: SharedServices): DynamicModule {
    return {
      module: ManagementModule,
      imports: [CoreModule.forRoot(shared)],
      controllers: [ModelsController],
      providers: [ModelPackages, ModelsService],
    };
  }
}
