// SPDX-License-Identifier: Apache-2.0
// The web console in headless Chromium against a live pocketvm-server
// (started by console.sh): sign-in, device list, VM creation and revocation,
// enrollment tokens shown once, audit view, and markup in a device name
// rendered as text. Prints TAP; exit 0 when every check passed.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const { URL: BASE, TOKEN, DEVICE, CA_SHA } = process.env;

let n = 0, failed = 0;
function check(ok, what) {
  n++;
  if (!ok) failed++;
  console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${what}`);
}

async function rest(method, path, body) {
  const res = await fetch(BASE + path, {
    method,
    headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.json();
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const alerts = [];
  page.on('dialog', async (d) => {
    if (d.type() === 'confirm') await d.accept();
    else { alerts.push(d.message()); await d.dismiss(); }
  });
  const cspErrors = [];
  page.on('console', (m) => { if (/Content Security Policy/.test(m.text())) cspErrors.push(m.text()); });

  const resp = await page.goto(BASE + '/console/');
  check(resp.status() === 200 && /script-src 'self'/.test(resp.headers()['content-security-policy'] || ''),
    'console served with a strict Content-Security-Policy');

  await page.fill('#token', 'pva_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
  await page.click('#login-form button');
  await page.waitForFunction(() => /sign-in failed/.test(document.getElementById('status').textContent));
  check(await page.isVisible('#login'), 'a wrong token is refused and the sign-in form stays');

  await page.fill('#token', TOKEN);
  await page.click('#login-form button');
  await page.waitForSelector('body[data-loaded="devices"]');
  check((await page.textContent('#whoami')) === 'admin:initial-admin', 'signed in as initial-admin');
  const devRow = page.locator(`#devices-body tr[data-id="${DEVICE}"]`);
  check(await devRow.count() === 1, 'the enrolled device is listed');
  const nameCell = await devRow.locator('td').nth(1).textContent();
  check(nameCell === '<img src=x onerror=alert(1)>' && alerts.length === 0 &&
    await page.locator('#devices-body img').count() === 0,
    'markup in a device name is shown as text, never run');

  await page.click('nav button[data-view="vms"]');
  await page.waitForSelector('body[data-loaded="vms"]');
  await page.selectOption('#vm-device', DEVICE);
  await page.fill('#vm-name', 'work');
  await page.click('#vm-form button');
  const vmRow = page.locator('#vms-body tr', { hasText: 'work' });
  await vmRow.first().waitFor();
  const vmId = await vmRow.first().getAttribute('data-id');
  check(/^[0-9a-f-]{36}$/.test(vmId || ''), `VM created from the console (${vmId})`);
  let vm = await rest('GET', `/v1/admin/vms/${vmId}`);
  check(vm.state === 'active' && vm.device === DEVICE, 'the API sees the new VM on that device');

  await vmRow.first().locator('button', { hasText: 'Revoke' }).click();
  await page.locator(`#vms-body tr[data-id="${vmId}"] td:nth-child(4)`, { hasText: 'revoked' }).waitFor();
  vm = await rest('GET', `/v1/admin/vms/${vmId}`);
  check(vm.state === 'revoked', 'revoking from the console deletes the VM key (state revoked)');

  await page.click('nav button[data-view="tokens"]');
  await page.waitForSelector('body[data-loaded="tokens"]');
  await page.fill('#token-count', '2');
  await page.click('#token-form button');
  await page.waitForSelector('#new-token-list li.new-token');
  const shown = await page.locator('#new-token-list li').allTextContents();
  check(shown.length === 2 && shown.every((t) => /^pve_[A-Za-z0-9_-]{43}$/.test(t)),
    'two enrollment tokens shown once');
  check((await page.textContent('#ca-sha')) === CA_SHA, 'with the CA fingerprint to pin');
  const listed = await rest('GET', '/v1/admin/enrollment-tokens');
  check(listed.tokens.filter((t) => t.used === null).length === 2 &&
    !JSON.stringify(listed).includes(shown[0]), 'the API lists them, without their secrets');

  await page.click('nav button[data-view="audit"]');
  await page.waitForSelector('body[data-loaded="audit"]');
  const audit = await page.textContent('#audit-body');
  check(audit.includes('vm.create') && audit.includes('command.create') &&
    audit.includes('enroll_token.create'), 'the audit view shows what the console did');

  await page.click('#logout');
  check(await page.isVisible('#login') &&
    await page.evaluate(() => sessionStorage.getItem('pvm-token')) === null,
    'logging out forgets the token');
  check(cspErrors.length === 0, `no Content-Security-Policy violations (${cspErrors.length})`);
} finally {
  await browser.close();
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
