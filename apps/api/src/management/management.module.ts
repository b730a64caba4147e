import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { sharedProviders, type SharedServices } from '../infra/shared';
import { ProblemFilter } from '../problem/problem.filter';
import { MANAGEMENT_TOKEN, ManagementTokenGuard } from './management-token.guard';
import { ModelStore } from './model-store';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

/** The management API (default port 8081), behind a bearer token. */
@Module({})
export class ManagementModule {
  static forRoot(shared: SharedServices, token: string | undefined): DynamicModule {
    return {
      module: ManagementModule,
      controllers: [ModelsController],
      providers: [
        ...sharedProviders(shared),
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: MANAGEMENT_TOKEN, useValue: token },
        ManagementTokenGuard,
        ModelStore,
        ModelsService,
      ],
    };
  }
}
