import { Body, Controller, Delete, Param, Put } from '@nestjs/common';
import { ShadowService } from '../shadow/shadow.service';
import { ClearShadowDocs, SetShadowDocs } from './shadow.docs';
import { ModelsDocs } from './models.docs';

/**
 * A model's shadow version. Listed before ModelsController in its module: `PUT` and `DELETE
 * /models/{name}/{version}` would otherwise take `/models/{name}/shadow` for a version.
 */
@ModelsDocs()
@Controller('models')
export class ShadowController {
  constructor(private readonly shadows: ShadowService) {}

  @Put(':name/shadow')
  @SetShadowDocs()
  set(@Param('name') name: string, @Body() body: unknown) {
    return this.shadows.set(name, body);
  }

  @Delete(':name/shadow')
  @ClearShadowDocs()
  clear(@Param('name') name: string) {
    return this.shadows.clear(name);
  }
}
