import { Inject, Injectable } from '@nestjs/common';
import type { Provenance } from '@app/common';
import type { Prediction } from '@app/handler/package';
import type { VersionRecord } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { ModelCatalog } from '../core/model-catalog';
import { FleetHealth } from '../health/fleet-health';
import { checkTexts } from '../predictions/prediction.dto';
import { SyncPredictionService } from '../predictions/sync-prediction.service';
import { BINARY_TENSOR_DATA } from './binary-tensors';
import type { InferCall } from './infer-request';
import { modelMetadata, outputTensors, type ModelMetadata, type OutputTensor } from './tensors';

/** The Open Inference Protocol's server metadata. */
export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

/** Whether a model version is ready, and why not. */
export interface ModelReadiness {
  name: string;
  version: string;
  ready: boolean;
  reason?: string;
}

/** The answer to an inference request, in the protocol's terms. */
export interface InferAnswer {
  model_name: string;
  model_version: string;
  id?: string;
  /** What produced the answer, when the request asked for it (flat: the protocol's parameters). */
  parameters?: Record<string, string | number>;
  outputs: OutputTensor[];
}

/**
 * The Open Inference Protocol (KServe v2) over modelfleet, for its REST and gRPC forms alike:
 * health, metadata and inference. Inference goes through {@link SyncPredictionService.predict}, so
 * it takes the same queues, batching, load shedding and metrics as every sync prediction.
 */
@Injectable()
export class OpenInferenceService {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly catalog: ModelCatalog,
    private readonly predictions: SyncPredictionService,
    private readonly health: FleetHealth,
  ) {}

  /**
   * The server's name and version, and the one protocol extension it implements: Triton's
   * binary tensor data (REST).
   */
  serverMetadata(): ServerMetadata {
    return {
      name: 'modelfleet',
      version: process.env.npm_package_version ?? '0.1.0',
      extensions: [BINARY_TENSOR_DATA],
    };
  }

  /** Undefined when Redis answers and every model's default version is served, else why not. */
  serverProblem(): Promise<string | undefined> {
    return this.health.problem();
  }

  /** A model's metadata (of the version named, else its default); 404 for an unknown one. */
  async modelMetadata(model: string, version?: string): Promise<ModelMetadata> {
    const record = await this.versionOf(model, version);
    const { versions } = await this.catalog.model(model);
    return modelMetadata(
      record,
      versions.map((v) => v.version),
    );
  }

  /** Whether a live worker serves the version named, else the default; 404 for an unknown one. */
  async modelReadiness(model: string, version?: string): Promise<ModelReadiness> {
    const record = await this.versionOf(model, version);
    const ready = (await this.catalog.live(record)).workers > 0;
    return {
      name: record.name,
      version: record.version,
      ready,
      ...(ready
        ? {}
        : { reason: `no live worker serves ${record.name} version ${record.version}` }),
    };
  }

  /** Most texts a request may hold (MAX_TEXTS_PER_REQUEST): transports stop decoding past it. */
  get maxTexts(): number {
    return this.config.MAX_TEXTS_PER_REQUEST;
  }

  /** Runs an inference request on the version named, else the one the traffic split picks. */
  async infer(
    model: string,
    version: string | undefined,
    call: InferCall,
    requestId?: string,
  ): Promise<InferAnswer> {
    const target = await this.catalog.resolve(model, version);
    const { record } = target;
    const texts = checkTexts(
      call.texts,
      { maxTexts: this.config.MAX_TEXTS_PER_REQUEST },
      '#/inputs/0/data',
    );
    const result = await this.predictions.predict(
      {
        model: record.name,
        version: record.version,
        texts,
        probabilities: call.outputs.includes('probabilities'),
        requestId,
        deadline: call.deadline,
      },
      target,
    );
    const provenance = call.provenance ? flatProvenance(result.provenance) : undefined;
    return {
      model_name: record.name,
      model_version: record.version,
      ...(call.id ? { id: call.id } : {}),
      ...(provenance ? { parameters: provenance } : {}),
      outputs: outputTensors(result.output as Prediction[], call.outputs),
    };
  }

  /** The version named, else the model's default (what metadata and readiness describe). */
  private async versionOf(model: string, version?: string): Promise<VersionRecord> {
    const { record } = await this.catalog.resolve(
      model,
      version ?? (await this.catalog.model(model)).defaultVersion,
    );
    return record;
  }
}

/**
 * A job's provenance as the protocol's parameters (strings and numbers, no nesting): every
 * member but the model and version, which the answer names already; no `batch_id` when the
 * cache answered every text.
 */
function flatProvenance(provenance?: Provenance): Record<string, string | number> | undefined {
  if (!provenance) return undefined;
  const { model: _m, version: _v, package_sha256, batch_id, ...rest } = provenance;
  return {
    ...(package_sha256 ? { package_sha256 } : {}),
    ...(batch_id ? { batch_id } : {}),
    ...rest,
  };
}
