import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { ModelRegistry, type ModelRecord } from '@app/registry';
import { badRequest } from '../core/problem';
import { parseWith } from '../predictions/prediction.dto';
import type { Disagreement } from './answer-comparison';
import { ShadowStore } from './shadow.store';

/** What `PUT /models/{name}/shadow` reads. */
export const shadowBodySchema = z
  .object({
    version: z.string().min(1).describe('a registered version that gets no traffic of its own'),
    fraction: z
      .number()
      .gt(0)
      .lte(1)
      .describe("share of the model's online jobs copied to it, in (0, 1]"),
  })
  .strict();

/** A model's shadow and how its answers compare, as `GET /models/{name}` describes it. */
export interface ShadowReport {
  version: string;
  fraction: number;
  /** When it became the shadow: every figure counts from then. */
  since: string;
  copies: { queued: number; dropped: number; failed: number };
  /** Copies whose answers were compared: jobs, texts, and texts with the same label. */
  compared: { jobs: number; texts: number; agreed: number };
  /** Agreed texts over compared texts; null before any. */
  agreement: number | null;
  /**
   * Mean over compared texts of |p − q|: p the probability the primary gave its label, q the
   * probability the shadow gave that class; null before any.
   */
  meanProbabilityDifference: number | null;
  /** Copies answered whose comparison could not be made, by why. */
  notCompared: {
    primaryFailed: number;
    primaryGone: number;
    primaryUnfinished: number;
    shadowFailed: number;
  };
  /** The latest disagreeing texts, newest first. */
  disagreements: Disagreement[];
}

/** The story of shadow versions as the management API tells it: set, stop, report. */
@Injectable()
export class ShadowService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly store: ShadowStore,
  ) {}

  /**
   * Makes a version the model's shadow. The same version again keeps its figures (only its
   * fraction changes); another one starts them afresh.
   */
  async set(name: string, body: unknown): Promise<ShadowReport> {
    const model = await this.registry.getModel(name);
    const { version, fraction } = parseWith(shadowBodySchema, body);
    const invalid = (detail: string) =>
      badRequest(detail, { errors: [{ pointer: '#/version', detail }] });
    if (!model.versions.some((v) => v.version === version))
      throw invalid(`model "${name}" has no version "${version}"`);
    if (model.defaultVersion === version || (model.traffic[version] ?? 0) > 0)
      throw invalid(
        `version ${version} answers callers of "${name}" (it is the default or has a traffic ` +
          'weight): a shadow must be a version that gets no traffic of its own',
      );
    const kept = model.shadow?.version === version ? model.shadow.since : undefined;
    const since = kept ?? new Date().toISOString();
    if (!kept) await this.store.reset(name, since);
    const setting = { version, fraction, since };
    await this.registry.setShadow(name, setting);
    return (await this.report({ ...model, shadow: setting }))!;
  }

  /** Stops copying the model's traffic to its shadow and forgets the shadow's figures. */
  async clear(name: string): Promise<{ status: string }> {
    const had = await this.registry.clearShadow(name);
    await this.store.remove(name);
    return { status: had ? `Shadow of "${name}" stopped` : `"${name}" had no shadow` };
  }

  /** The model's shadow and its figures; undefined when it has none. */
  async report(model: ModelRecord): Promise<ShadowReport | undefined> {
    const shadow = model.shadow;
    if (!shadow) return undefined;
    const { counters: c, disagreements } = await this.store.read(model.name, shadow.since);
    return {
      version: shadow.version,
      fraction: shadow.fraction,
      since: shadow.since,
      copies: { queued: c.copied, dropped: c.dropped, failed: c.copy_errors },
      compared: { jobs: c.compared, texts: c.texts, agreed: c.agreed },
      agreement: c.texts ? c.agreed / c.texts : null,
      meanProbabilityDifference: c.probability_texts
        ? c.probability_difference / c.probability_texts
        : null,
      notCompared: {
        primaryFailed: c.primary_failed,
        primaryGone: c.primary_gone,
        primaryUnfinished: c.primary_unfinished,
        shadowFailed: c.shadow_failed,
      },
      disagreements,
    };
  }
}
