import { applyDecorators } from '@nestjs/common';
import {
  JsonAnswer,
  MANAGEMENT_SECURITY,
  Operation,
  REDIS_UNAVAILABLE,
  ref,
  requestSchema,
} from '../core/api-docs';
import { shadowBodySchema } from '../shadow/shadow.service';
import {
  ManagementProblems,
  nameParam,
  shadowSchema,
  statusSchema,
  unauthorized,
} from './models.docs';

const shadowBody = requestSchema('ShadowSetting', shadowBodySchema);

export const SetShadowDocs = () =>
  applyDecorators(
    Operation({
      id: 'setShadow',
      summary: "Copy a fraction of a model's online traffic to a shadow version, and compare",
      description:
        'Callers only ever get the answers of the version they were routed to. A share ' +
        '`fraction` of online jobs (sync, async and v2) is copied whole to the shadow ' +
        "version's bulk queue, so the copies never delay online work; while the shadow has " +
        'SHADOW_MAX_BACKLOG jobs queued, copies are dropped and counted. Its answers are ' +
        "compared with the primary's (see the `shadow` member of `GET /models/{name}`). The " +
        'same version again changes only the fraction; another version starts the figures afresh.',
      security: MANAGEMENT_SECURITY,
      body: { 'application/json': { schema: ref(shadowBody) } },
    }),
    nameParam,
    JsonAnswer(200, 'the shadow now in force, with its figures', shadowSchema),
    ManagementProblems({
      400:
        'the body is not {"version", "fraction"} with 0 < fraction <= 1, the version is not ' +
        'registered, or it is the default or has a traffic weight',
      ...unauthorized,
      404: 'unknown model',
      413: 'a body over MAX_BODY_BYTES',
      415: 'an unsupported charset or Content-Encoding',
      503: REDIS_UNAVAILABLE,
    }),
  );

export const ClearShadowDocs = () =>
  applyDecorators(
    Operation({
      id: 'clearShadow',
      summary: "Stop copying a model's traffic to its shadow, and forget its figures",
      security: MANAGEMENT_SECURITY,
    }),
    nameParam,
    JsonAnswer(200, 'no shadow any more (also when there was none)', statusSchema),
    ManagementProblems({ ...unauthorized, 404: 'unknown model', 503: REDIS_UNAVAILABLE }),
  );
