// The dashboard end to end, in headless Chromium against the local stack: a manager
// sees the truck of their organisation move, a crash (from the fleet simulator) raises
// an alarm that appears without reloading, and acknowledges it (which the REST API then
// shows, audited); a pharmacist of another organisation sees none of it.

import { expect, test, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { adminLogin, Api, buildFleetSim, dashboardUrl, dropConnections, Fleet, type Login, otherPharmacy, outputs } from './world';

const RESULTS = join(import.meta.dirname, '../test-results');

test.describe.configure({ mode: 'serial' });

let fleet: Fleet;
let api: Api;
let shipmentId: string;
let manager: Login & { id: string; orgId: string };
let pharmacist: Login & { orgId: string };
let url: string;
const live = Boolean(outputs().WebSocketUrl);

test.beforeAll(async () => {
  test.setTimeout(10 * 60_000);
  url = dashboardUrl();
  api = new Api();
  buildFleetSim();
  fleet = new Fleet();
  fleet.setUp();
  manager = fleet.manager();
  shipmentId = fleet.shipmentId();
  pharmacist = await otherPharmacy(api, fleet.state().tag);
  fleet.start();
});

// The page's Content-Security-Policy must let the dashboard do all it does: every violation
// a page reports fails its test.
const violations = new WeakMap<Page, string[]>();

test.beforeEach(async ({ page }) => {
  const seen: string[] = [];
  violations.set(page, seen);
  await page.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (event) =>
      console.error(`CSP violation: ${event.effectiveDirective} ${event.blockedURI}`),
    ),
  );
  page.on('console', (message) => {
    if (/CSP violation|Content Security Policy/.test(message.text())) seen.push(message.text());
  });
});

test.afterEach(async ({ page }) => {
  expect(violations.get(page) ?? [], 'Content-Security-Policy violations').toEqual([]);
});

test.afterAll(async () => {
  if (!fleet) return;
  await fleet.stop();
  mkdirSync(RESULTS, { recursive: true });
  fleet.saveLog(join(RESULTS, 'fleet-sim.log'));
  fleet.removeFiles();
});

async function signIn(page: Page, login: Login) {
  // map tiles come from the internet: refuse them, as on an offline machine
  await page.route(/tile\.openstreetmap\.org/, (route) => route.abort('internetdisconnected'));
  await page.goto(url);
  await page.getByLabel('Email').fill(login.email);
  await page.getByLabel('Password').fill(login.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('who')).toBeVisible();
  // a marker the page keeps until it is reloaded
  await page.evaluate(() => ((window as unknown as { __notReloaded: boolean }).__notReloaded = true));
}

async function notReloaded(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { __notReloaded?: boolean }).__notReloaded)).toBe(true);
}

async function markerPosition(page: Page, id: string) {
  const marker = page.locator(`.pg-marker[data-shipment-id="${id}"]`);
  return [await marker.getAttribute('data-lat'), await marker.getAttribute('data-lon')].join(',');
}

test('a manager sees the truck move and a crash alarm arrive live, and reviews it', async ({ page }) => {
  await signIn(page, manager);
  if (live) await expect(page.getByTestId('live-status')).toHaveAttribute('data-status', 'open', { timeout: 30_000 });

  // the truck of the manager's organisation is on the map, without map tiles
  const marker = page.locator(`.pg-marker[data-shipment-id="${shipmentId}"]`);
  await expect(marker).toBeVisible({ timeout: 90_000 });
  await expect(marker).toHaveAttribute('data-state', 'IN_TRANSIT');
  await expect(page.getByTestId('map')).toHaveAttribute('data-tiles', 'failed');
  await expect(page.getByTestId('tiles-unavailable')).toBeVisible();

  // and it moves without a reload
  await expect.poll(() => marker.getAttribute('data-lat'), { timeout: 60_000 }).not.toBeNull();
  const before = await markerPosition(page, shipmentId);
  await expect.poll(() => markerPosition(page, shipmentId), { timeout: 60_000, intervals: [1000] }).not.toBe(before);
  await notReloaded(page);

  if (live) {
    // the server drops the connection (as API Gateway does after 2 h): the page reconnects by itself
    const status = page.getByTestId('live-status');
    const connects = Number(await status.getAttribute('data-connects'));
    expect(await dropConnections(manager.orgId)).toBeGreaterThan(0);
    await expect.poll(async () => Number(await status.getAttribute('data-connects')), { timeout: 30_000 }).toBeGreaterThan(connects);
    await expect(status).toHaveAttribute('data-status', 'open');
    const moved = await markerPosition(page, shipmentId);
    await expect.poll(() => markerPosition(page, shipmentId), { timeout: 60_000, intervals: [1000] }).not.toBe(moved);
    await notReloaded(page);
  }

  // the popup tells temperature and when the truck was last seen
  await marker.click();
  const popup = page.getByTestId('marker-popup');
  await expect(popup).toContainText('°C');
  await expect(popup).toContainText('Last seen');

  // a crash: the simulator resumes the same truck and crashes it a few seconds in
  await fleet.stop();
  fleet.start(['--incident', 'crash@1+5']);
  const alarm = page.locator(`[data-testid="alarm"][data-shipment-id="${shipmentId}"][data-alarm-type="SHOCK"]`);
  await expect(alarm).toBeVisible({ timeout: 120_000 });
  await expect(alarm).toHaveAttribute('data-state', 'ACTIVE_UNACK');
  await expect(alarm).toContainText('CRITICAL');
  await expect(marker).toHaveAttribute('data-alarm', 'CRITICAL');
  await notReloaded(page);

  // reviewed from the feed: a disposition and a reason are required
  await alarm.getByRole('button', { name: 'Acknowledge' }).click();
  const form = alarm.getByTestId('review-form');
  await expect(form).toBeVisible();
  const save = form.getByRole('button', { name: 'Acknowledge with review' });
  await expect(save).toBeDisabled();
  await form.getByLabel('Disposition').selectOption('ESCALATED_TO_QA');
  await expect(save).toBeDisabled();
  await form.getByLabel('Reason').fill('Driver reports a kerb strike; cartons to be inspected on arrival');
  await save.click();
  await expect(alarm).toHaveAttribute('data-state', 'ACTIVE_ACK');
  await expect(alarm).toHaveAttribute('data-reviewed', 'true');
  await expect(alarm.getByTestId('alarm-state')).toContainText('Acknowledged');
  await expect(alarm.getByTestId('alarm-disposition')).toHaveText('Escalated to QA');
  await expect(alarm.getByTestId('alarm-review')).toContainText('kerb strike');
  const alarmId = await alarm.getAttribute('data-alarm-id');

  // the REST API agrees: the alarm is acknowledged by the manager, and it is audited
  const { token } = await api.login(manager);
  const tracking = await api.call<{
    alarms: { alarm_id: string; state: string; acknowledged_by?: string; review?: { reason: string; disposition: string } }[];
  }>(
    'GET',
    `/v1/shipments/${encodeURIComponent(shipmentId)}/tracking`,
    token,
  );
  const stored = tracking.alarms.find((a) => a.alarm_id === alarmId);
  expect(stored).toMatchObject({ state: 'ACTIVE_ACK', acknowledged_by: manager.id });
  expect(stored?.review).toMatchObject({
    disposition: 'ESCALATED_TO_QA',
    reason: 'Driver reports a kerb strike; cartons to be inspected on arrival',
  });
  const audit = await api.call<{ items: { action: string; actor: { id: string }; after: unknown }[] }>(
    'GET',
    `/v1/shipments/${encodeURIComponent(shipmentId)}/audit`,
    token,
  );
  const ackRecord = audit.items.find((r) => /ack/i.test(r.action));
  expect(ackRecord, JSON.stringify(audit.items.map((r) => r.action))).toBeDefined();
  expect(ackRecord?.actor.id).toBe(manager.id);

  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, 'dashboard.png'), fullPage: true });

  // the shipment's page: the temperature chart with its band, the alarm and the audit trail
  await page.locator(`[data-testid="tracking-row"][data-shipment-id="${shipmentId}"] a`).first().click();
  await expect(page.getByTestId('shipment-detail')).toBeVisible();
  await expect(page.getByTestId('shipment-state')).toHaveText('In transit');
  await expect.poll(async () => Number(await page.getByTestId('temperature-chart').getAttribute('data-points'))).toBeGreaterThan(5);
  await expect(page.locator('.chart .band')).toHaveCount(1);
  await expect(page.getByTestId('audit-trail')).toContainText(/ack/i);
  await expect(page.getByTestId('audit-trail')).toContainText('reviewed: Escalated to QA');
  const onShipmentPage = page.locator(`[data-testid="alarm"][data-alarm-id="${alarmId}"]`);
  await expect(onShipmentPage.getByTestId('alarm-disposition')).toHaveText('Escalated to QA');

  // a ferry crossing declared during the trip: listed on the page and audited
  const silences = page.getByTestId('silences');
  await silences.getByLabel('Silence from').fill('2030-01-01T10:00');
  await silences.getByLabel('Silence to').fill('2030-01-01T13:30');
  await silences.getByLabel('Silence reason').fill('ferry Rostock–Trelleborg');
  await silences.getByRole('button', { name: 'Add expected silence' }).click();
  await expect(silences.getByTestId('silence')).toHaveCount(1);
  await expect(silences.getByTestId('silence')).toContainText('ferry Rostock–Trelleborg');
  await expect(page.getByTestId('audit-trail')).toContainText('1 expected silence');
  await page.screenshot({ path: join(RESULTS, 'shipment.png'), fullPage: true });
});

test('a pharmacist of another organisation sees none of it', async ({ page }) => {
  await signIn(page, pharmacist);
  if (live) await expect(page.getByTestId('live-status')).toHaveAttribute('data-status', 'open', { timeout: 30_000 });
  await expect(page.getByTestId('tracking-count')).toHaveText('0 shown');
  await expect(page.getByTestId('no-tracking')).toBeVisible();
  await expect(page.getByTestId('no-alarms')).toBeVisible();
  // the fleet keeps sending (and its alarm stays active): still nothing arrives
  await page.waitForTimeout(15_000);
  await expect(page.locator('.pg-marker')).toHaveCount(0);
  await expect(page.getByTestId('alarm')).toHaveCount(0);

  await page.getByRole('link', { name: 'Shipments' }).click();
  await expect(page.getByTestId('no-shipments')).toHaveText('No shipments.');
  await page.goto(`${url}#/shipments/${encodeURIComponent(shipmentId)}`);
  await expect(page.getByTestId('shipment-not-found')).toBeVisible();
});

test('a manager creates a shipment with the form, dispatches it and cancels it', async ({ page }) => {
  const recipient = Object.entries(fleet.state().organisations).find(([key]) => key !== 'operator')?.[1];
  expect(recipient, 'the fleet world has a recipient organisation').toBeDefined();
  // dispatching needs a free device of the shipper: register one for this shipment
  const { token } = await api.login(adminLogin());
  const device = await api.call<{ device_id: string }>('POST', '/v1/auth/devices', token, {
    device_id: `form-truck-${Date.now()}`,
    name: 'Form test sensor',
    org_id: manager.orgId,
  });
  await signIn(page, manager);
  await page.getByRole('link', { name: 'New shipment' }).click();

  // a form with nothing in it names each missing field
  await page.getByRole('button', { name: 'Create shipment' }).click();
  await expect(page.locator('.field-error').first()).toBeVisible();

  await page.getByLabel('Product').fill('Insulin glargine pens');
  await page.getByLabel('Quantity (units)').fill('250');
  await page.getByLabel('Cargo value').fill('18750.00');
  await page.getByLabel('Temperature profile').selectOption('REFRIGERATED');
  await page.getByLabel('Shipper organisation').selectOption(manager.orgId);
  await page.getByLabel('Recipient organisation').selectOption(recipient!.id);
  await page.getByLabel('Origin').fill('Distribution hub Venlo');
  await page.getByLabel('Latitude').first().fill('51.39');
  await page.getByLabel('Longitude').first().fill('6.17');
  await page.getByLabel('Destination').fill(recipient!.name);
  await page.getByLabel('Latitude').last().fill('51.22');
  await page.getByLabel('Longitude').last().fill('6.79');
  await page.getByLabel('Device (sensor) id').fill(device.device_id);
  await page.getByRole('button', { name: 'Create shipment' }).click();

  await expect(page.getByTestId('shipment-detail')).toBeVisible();
  await expect(page.getByTestId('shipment-state')).toHaveText('Pending');
  await page.getByRole('button', { name: 'Dispatch' }).click();
  await expect(page.getByTestId('shipment-state')).toHaveText('Dispatched');
  await page.getByRole('button', { name: 'Cancel shipment' }).click();
  await page.getByLabel('Reason', { exact: true }).fill('customer postponed the order');
  await page.getByRole('button', { name: 'Confirm cancel' }).click();
  await expect(page.getByTestId('shipment-state')).toHaveText('Cancelled');
  await expect(page.getByTestId('shipment-actions')).toHaveCount(0);
  await expect(page.getByTestId('audit-row')).toHaveCount(3);
  await expect(page.getByTestId('audit-trail')).toContainText('DISPATCHED → CANCELLED');
});

test('the tokens stay in the page: a reload signs out and says why', async ({ page }) => {
  await signIn(page, manager);
  const kept = await page.evaluate(() => ({
    local: Object.keys(window.localStorage),
    session: Object.fromEntries(Object.keys(window.sessionStorage).map((k) => [k, window.sessionStorage.getItem(k)])),
    cookie: document.cookie,
  }));
  // a flag that the tab is signed in, and nothing a script could use to sign in elsewhere
  expect(kept).toEqual({ local: [], session: { 'pharmaguard.signed-in': '1' }, cookie: '' });

  await page.reload();
  await expect(page.getByLabel('Email')).toBeVisible();
  await expect(page.locator('.notice')).toContainText('the page was reloaded');
  await page.getByLabel('Email').fill(manager.email);
  await page.getByLabel('Password').fill(manager.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('who')).toBeVisible();
});

test('a manager sets who is mailed and when an unacknowledged alarm escalates', async ({ page }) => {
  await signIn(page, manager);
  await page.getByRole('link', { name: 'Notifications' }).click();
  const settings = page.getByTestId('notifications');
  await expect(settings.getByLabel('Time zone')).not.toHaveValue('');
  await expect(settings.getByTestId('chain-summary')).toContainText('A CRITICAL alarm: first');

  // a time zone that does not exist is refused, naming the field
  await settings.getByLabel('Time zone').fill('Europe/Atlantis');
  await settings.getByRole('button', { name: 'Save policy' }).click();
  await expect(settings.getByTestId('policy-errors')).toContainText('time_zone');

  await settings.getByLabel('Time zone').fill('Europe/Berlin');
  await settings.getByLabel('CRITICAL minutes').fill('10');
  const extra = settings.getByLabel('CRITICAL: extra addresses');
  await extra.fill('control-room@operator.example');
  await extra.blur();
  await settings.getByRole('button', { name: 'Save policy' }).click();
  await expect(settings.getByRole('status')).toHaveText('Saved.');
  await expect(settings.getByTestId('policy-default')).toHaveCount(0);
  await expect(settings.getByTestId('chain-summary')).toContainText('control-room@operator.example; after 10 min a reminder');

  // stored: another page and back shows it again
  await page.getByRole('link', { name: 'Shipments' }).click();
  await page.getByRole('link', { name: 'Notifications' }).click();
  await expect(settings.getByLabel('CRITICAL minutes')).toHaveValue('10');
  await expect(settings.getByLabel('Time zone')).toHaveValue('Europe/Berlin');
  await expect(extra).toHaveValue('control-room@operator.example');
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, 'notifications.png'), fullPage: true });
});
