// The world the browser tests act in, set up through the REST API and the fleet
// simulator: a logistics operator with a manager and a truck whose shipment is in
// transit (fleet-sim, with a state file of its own so the demo fleet is untouched),
// and a pharmacy of another organisation with a pharmacist who is no party to it.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
const STATE = process.env.PHARMAGUARD_STATE_DIR ?? join(REPO, 'localstack/.state');

export interface Outputs {
  ApiBaseUrl: string;
  WebSocketUrl?: string;
  DashboardWebsiteUrl?: string;
  [key: string]: string | undefined;
}

export function outputs(): Outputs {
  const file = process.env.PHARMAGUARD_OUTPUTS ?? join(STATE, 'outputs.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: start the stack with localstack/up`);
  return JSON.parse(readFileSync(file, 'utf8')) as Outputs;
}

/** The dashboard's URL as a browser here reaches it (see web/deploy). */
export function dashboardUrl(): string {
  if (process.env.DASHBOARD_URL) return process.env.DASHBOARD_URL;
  const site = outputs().DashboardWebsiteUrl;
  if (!site) throw new Error('the stack has no DashboardWebsiteUrl output: deploy it (infra/deploy, web/deploy)');
  return `${site.replace('.localhost.localstack.cloud', '.localhost').replace(/\/+$/, '')}/`;
}

export interface Login {
  email: string;
  password: string;
}

export class Api {
  constructor(readonly base = outputs().ApiBaseUrl) {}

  async call<T = unknown>(method: string, path: string, token: string | null, body?: unknown): Promise<T> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return (text ? JSON.parse(text) : null) as T;
  }

  async login(login: Login): Promise<{ token: string; userId: string }> {
    const pair = await this.call<{ access_token: string; user: { id: string } }>('POST', '/v1/auth/login', null, {
      email: login.email,
      password: login.password,
    });
    return { token: pair.access_token, userId: pair.user.id };
  }
}

export function adminLogin(): Login {
  const admin = JSON.parse(readFileSync(join(STATE, 'admin.json'), 'utf8')) as Login;
  return { email: admin.email, password: admin.password };
}

// ---- the fleet simulator

const FLEET_BIN = join(process.env.CARGO_TARGET_DIR ?? join(REPO, 'target'), 'debug/fleet-sim');

export function buildFleetSim(): void {
  execFileSync('cargo', ['build', '--quiet', '--locked', '-p', 'fleet-sim'], { cwd: REPO, stdio: 'inherit' });
}

interface FleetState {
  tag: string;
  organisations: Record<string, { id: string; name: string; users: { id: string; role: string; email: string; password: string }[] }>;
  trucks: Record<string, { device_id: string; shipment?: { id: string } }>;
}

export class Fleet {
  readonly dir = mkdtempSync(join(tmpdir(), 'pharmaguard-web-'));
  readonly stateFile = join(this.dir, 'fleet.json');
  private child: ChildProcess | null = null;
  private log = '';

  /** Creates the operator, its manager, a device and a shipment in transit (no readings yet). */
  setUp(): void {
    execFileSync(FLEET_BIN, [...this.common(), '--setup-only', '--summary', join(this.dir, 'setup.json')], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 180_000,
    });
  }

  state(): FleetState {
    return JSON.parse(readFileSync(this.stateFile, 'utf8')) as FleetState;
  }

  manager(): Login & { id: string; orgId: string } {
    const operator = this.state().organisations.operator;
    const user = operator.users.find((u) => u.role === 'MANAGER');
    if (!user) throw new Error('the fleet state has no manager');
    return { email: user.email, password: user.password, id: user.id, orgId: operator.id };
  }

  shipmentId(): string {
    const id = this.state().trucks['1']?.shipment?.id;
    if (!id) throw new Error('the fleet state has no shipment on truck 1');
    return id;
  }

  /** Drives the truck (one reading a second, sent every 2 s, at its real speed) with extra fleet-sim options. */
  start(extra: string[] = []): void {
    if (this.child) throw new Error('the fleet is already running');
    const args = [
      ...this.common(),
      '--rate-hz', '1',
      // real speed: the shortest demo route (4 km) takes minutes, longer than the test needs
      // before its crash, after which the truck stands still
      '--batch-window', '2s',
      '--duration', '15m',
      '--summary', join(this.dir, `summary-${Date.now()}.json`),
      ...extra,
    ];
    const child = spawn(FLEET_BIN, args, { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.log += chunk.toString();
      if (this.log.length > 200_000) this.log = this.log.slice(-100_000);
    });
    this.child = child;
  }

  /** Stops the run (SIGTERM: it flushes and saves the truck's progress) and waits for it. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  output(): string {
    return this.log;
  }

  saveLog(file: string): void {
    writeFileSync(file, this.log);
  }

  /** Forgets the state file (its passwords and device secrets) and summaries. */
  removeFiles(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private common(): string[] {
    // the stack the tests run against (PHARMAGUARD_STATE_DIR, PHARMAGUARD_OUTPUTS), for fleet-sim too
    const outputsFile = process.env.PHARMAGUARD_OUTPUTS ?? join(STATE, 'outputs.json');
    return [
      '--trucks', '1', '--transport', 'https', '--state', this.stateFile,
      '--outputs', outputsFile, '--admin', join(STATE, 'admin.json'),
    ];
  }
}

/** A pharmacy with a pharmacist, made by the admin: no party to the fleet's shipment. */
export async function otherPharmacy(api: Api, tag: string): Promise<Login & { orgId: string }> {
  const { token } = await api.login(adminLogin());
  const org = await api.call<{ id: string }>('POST', '/v1/auth/organisations', token, {
    name: `Canal Street Pharmacy ${tag}`,
    kind: 'PHARMACY',
  });
  const login = {
    email: `pharmacist.${tag}@canal-street.pharmaguard.local`,
    password: `Pharmacy-${tag}-${Math.random().toString(36).slice(2, 12)}`,
  };
  await api.call('POST', '/v1/auth/users', token, {
    ...login,
    name: 'Pia Pharmacist',
    role: 'PHARMACIST',
    org_id: org.id,
  });
  return { ...login, orgId: org.id };
}

// ---- the live connection, from the server's side

/**
 * Closes every WebSocket connection of an organisation from the server's side, as
 * API Gateway does at its limits: finds them in the connections table (index by-org)
 * and deletes them through the gateway's @connections API. Returns how many.
 */
export async function dropConnections(orgId: string): Promise<number> {
  const out = outputs();
  const table = out.ConnectionsTableName;
  if (!table || !out.WebSocketUrl) throw new Error('the stack has no WebSocket API outputs');
  const found = JSON.parse(
    execFileSync(
      join(REPO, 'localstack/awslocal'),
      [
        'dynamodb', 'query', '--table-name', table, '--index-name', 'by-org',
        '--key-condition-expression', 'org_id = :o',
        '--expression-attribute-values', JSON.stringify({ ':o': { S: orgId } }),
        '--output', 'json',
      ],
      { encoding: 'utf8' },
    ),
  ) as { Items: { pk: { S: string } }[] };
  const management = out.WebSocketUrl.replace(/^ws/, 'http').replace(/\/+$/, '');
  let dropped = 0;
  for (const item of found.Items) {
    // the gateway wants a SigV4 Authorization header, as API Gateway does (it does not check the signature)
    const response = await fetch(`${management}/@connections/${encodeURIComponent(item.pk.S)}`, {
      method: 'DELETE',
      headers: {
        authorization:
          'AWS4-HMAC-SHA256 Credential=test/20260101/eu-central-1/execute-api/aws4_request, SignedHeaders=host, Signature=0',
      },
    });
    if (response.status === 204) dropped += 1;
  }
  return dropped;
}
