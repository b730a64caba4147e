import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule, type SharedServices } from '../core/core.module';
import { MANAGEMENT_TOKEN, ManagementTokenGuard } from './management-token.guard';
import { ModelPackages } from './model-packages';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

/** The management API (default port 8081), behind a bearer token. */
@Module({})
export class ManagementModule {
  static forRoot(shared: SharedServices, token: string | undefined): DynamicModule {
    return {
      module: ManagementModule,
      imports: [CoreModule.forRoot(shared)],
      controllers: [ModelsController],
      providers: [
        { provide: MANAGEMENT_TOKEN, useValue: token },
        ManagementTokenGuard,
        ModelPackages,
        ModelsService,
      ],
    };
  }
}
