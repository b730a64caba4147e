import { lookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Agent } from 'undici';
import { API_CONFIG, type ApiConfig } from '../config';
import { Problem } from '../core/problem';
import { AddressPolicy } from './address-policy';

/**
 * Refuses webhook URLs that resolve to loopback, private or link-local addresses unless the
 * allow-list admits them. Checked when a prediction is created, and again at connect time by
 * the delivery agent, so a DNS answer that changes in between cannot slip through.
 */
@Injectable()
export class WebhookTargetGuard implements OnApplicationShutdown {
  readonly policy: AddressPolicy;
  /** HTTP agent whose every connection passes the same check. */
  readonly agent: Agent;

  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {
    this.policy = new AddressPolicy(config.WEBHOOK_ALLOWED_HOSTS);
    this.agent = new Agent({
      connect: {
        lookup: (hostname, options, callback) => {
          this.resolve(hostname)
            .then((addresses) => {
              const all = addresses.map((a) => ({ address: a.address, family: a.family }));
              if ((options as { all?: boolean }).all) callback(null, all);
              else callback(null, all[0].address, all[0].family);
            })
            .catch((error: Error) => callback(error as NodeJS.ErrnoException, '', 4));
        },
      },
    });
  }

  /** Throws a 422 problem when the URL may not receive webhooks. */
  async assertAllowed(url: string): Promise<void> {
    if (!this.config.WEBHOOKS_ENABLED || !this.config.WEBHOOK_SECRET) {
      throw new Problem(
        422,
        'Webhooks unavailable',
        'this server has no webhook secret configured',
      );
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Problem(422, 'Webhook refused', `"${url}" is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new Problem(
        422,
        'Webhook refused',
        `webhook URLs must use http or https, not ${parsed.protocol}`,
      );
    }
    try {
      await this.resolve(parsed.hostname.replace(/^\[|\]$/g, ''));
    } catch (error) {
      throw new Problem(422, 'Webhook refused', (error as Error).message);
    }
  }

  /** Resolves a host and rejects when any of its addresses is refused. */
  private async resolve(host: string): Promise<LookupAddress[]> {
    const addresses = await lookup(host, { all: true });
    if (this.policy.allowsHost(host)) return addresses;
    for (const { address } of addresses) {
      const refusal = this.policy.refusal(address);
      if (refusal) throw new Error(`webhook host ${host} refused: ${refusal}`);
    }
    return addresses;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.agent.close();
  }
}
