import type { QueueCounters } from '@app/common';

/** A version's online queue as read from Redis. */
export interface QueueReading {
  /** Jobs no worker has taken yet (waiting, prioritized, delayed). */
  jobs: number;
  /** The queue's progress counters: texts and jobs added, and taken into work. */
  counters: QueueCounters;
}

/**
 * The online work queued for one model version, counted in texts, as one API process knows it:
 * the queue as last read, plus what this process admitted since (which the next read finds in
 * the queue). Texts, not calls or jobs, since texts are what a worker's throughput counts, and a
 * job holds anything from one text to a coalesced group of many calls' texts. Pure: the caller
 * reads the queue and says what it admitted.
 */
export class QueuedWork {
  private jobsRead = 0;
  private textsPerJob = 1;
  private admittedJobs = 0;
  private admittedTexts = 0;

  /**
   * Takes a fresh reading: what was admitted before it is in it. The texts of a queued job are
   * averaged over the jobs the counters say are not yet taken, so jobs that left the queue
   * without being counted (a queue emptied by hand) shift the average, never the total.
   */
  read({ jobs, counters }: QueueReading): void {
    const jobsAhead = counters.addedJobs - counters.startedJobs;
    const textsAhead = counters.addedTexts - counters.startedTexts;
    this.jobsRead = jobs;
    this.textsPerJob = jobsAhead > 0 && textsAhead > 0 ? textsAhead / jobsAhead : 1;
    this.admittedJobs = 0;
    this.admittedTexts = 0;
  }

  /**
   * Weighs a sync call of `texts` texts at `rate` texts per second: its wait is the texts queued
   * before it. Within `limitS` it is admitted and counted at once (its texts, not a job: it may
   * share one), so the next call is weighed behind it. Its own texts are not part of its wait:
   * the throughput a worker reports at light load is conservative (small groups), and would
   * refuse a large call to an idle version that it answers in time.
   */
  offerSync(texts: number, rate: number, limitS: number): { admitted: boolean; waitS: number } {
    const waitS = this.waitS(rate);
    const admitted = waitS <= limitS;
    if (admitted) this.admittedTexts += texts;
    return { admitted, waitS };
  }

  /** Counts an admitted async create until the next reading: a job of its own, and its texts. */
  admitAsync(texts: number): void {
    this.admittedJobs++;
    this.admittedTexts += texts;
  }

  /** Jobs queued. */
  get jobs(): number {
    return this.jobsRead + this.admittedJobs;
  }

  /** Texts queued. */
  get texts(): number {
    return this.jobsRead * this.textsPerJob + this.admittedTexts;
  }

  /** Seconds until the texts queued are answered at `rate` texts per second; 0 when unknown. */
  waitS(rate: number): number {
    return rate > 0 ? this.texts / rate : 0;
  }

  /** Seconds until `jobs` queued jobs are answered at `rate` texts per second; 0 when unknown. */
  jobsWaitS(jobs: number, rate: number): number {
    return rate > 0 ? (jobs * this.textsPerJob) / rate : 0;
  }
}
