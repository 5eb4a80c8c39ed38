// Types of checks.mjs, for the TypeScript tests that import it (test/unit/chaos-checks.test.ts).
export interface LogRecord {
  partition: number;
  offset: number;
  key: string;
  value: string;
}
export interface Delivery extends LogRecord {
  t: number;
  member: number;
}
export interface Commit {
  t: number;
  member: number;
  partition: number;
  offset: number;
}
export interface Sample {
  t: number;
  partition: number;
  offset: number;
}
export interface ReplicaComparison {
  topicPartition: string;
  brokers: number[];
  identical: boolean;
  detail?: string;
}
export interface BatchInfo {
  partition: number;
  baseOffset: number;
  lastOffset: number;
  producerEpoch: number;
}
export interface History {
  keys: number;
  produced: number;
  acked: Array<[number, number, number]>;
  log: LogRecord[];
  group: { deliveries: Delivery[]; commits: Commit[]; samples: Sample[] };
  replicas: ReplicaComparison[];
  batches?: BatchInfo[];
}
export interface CheckResult {
  name: string;
  ok: boolean;
  violations: number;
  examples: string[];
}
export interface Verdict {
  ok: boolean;
  checks: CheckResult[];
  stats: Record<string, number>;
  /** Records in the log twice, in batches of different producer epochs (the client sent them again). */
  clientResent: string[];
}
export function checkHistory(h: History): Verdict;
