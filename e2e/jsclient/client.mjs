// client.mjs drives Eclipse Ditto's official JavaScript client
// (@eclipse-ditto/ditto-javascript-client-node, unchanged) against a Ditto
// gateway's WebSocket endpoint /ws/2, as e2e/jsclient_test.go runs it:
//
//   node e2e/jsclient/client.mjs [BASE_URL]
//
// BASE_URL (default $DITTO_BASE_URL, else http://localhost:8080) is the
// HTTP base; the credentials come from $DITTO_USER and $DITTO_PASSWORD
// (default ditto:ditto). Each step is printed; every step is bounded by
// $STEP_TIMEOUT_MS (default 10000). The exit code is 0 only when every step
// checked out. Every WebSocket frame is printed too ("> " sent, "< "
// received), so that a failure shows what the client said and heard.
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import ditto from '@eclipse-ditto/ditto-javascript-client-node';

const { DittoNodeClient, NodeWebSocketBasicAuth, NodeHttpBasicAuth, Thing } = ditto;

const base = new URL(process.argv[2] ?? process.env.DITTO_BASE_URL ?? 'http://localhost:8080');
const user = process.env.DITTO_USER ?? 'ditto';
const password = process.env.DITTO_PASSWORD ?? 'ditto';
const stepTimeout = Number(process.env.STEP_TIMEOUT_MS ?? 10000);

// Trace the frames on the very `ws` module the client loads (resolved from
// the client's own location), without touching the client.
const requireFromClient = createRequire(createRequire(import.meta.url).resolve('@eclipse-ditto/ditto-javascript-client-node'));
const WebSocket = requireFromClient('ws');
const origSend = WebSocket.prototype.send;
WebSocket.prototype.send = function send(data, ...rest) {
  console.log(`  > ${data}`);
  return origSend.call(this, data, ...rest);
};
const origEmit = WebSocket.prototype.emit;
WebSocket.prototype.emit = function emit(event, ...args) {
  if (event === 'message') {
    console.log(`  < ${args[0]}`);
  } else if (event === 'close') {
    console.log(`  < (closed ${args[0]} ${args[1] ?? ''})`);
  } else if (event === 'unexpected-response') {
    console.log(`  < (upgrade refused: HTTP ${args[1]?.statusCode})`);
  }
  return origEmit.call(this, event, ...args);
};

let client;
function fail(msg) {
  console.log(`FAIL ${msg}`);
  try {
    client?.close();
  } catch {
    // the socket may never have opened
  }
  process.exit(1);
}
// The client throws from its own callbacks when the upgrade fails or a
// frame surprises it; either is a failure of this run, not a crash.
process.on('unhandledRejection', (e) => fail(`unhandled rejection: ${describe(e)}`));
process.on('uncaughtException', (e) => fail(`uncaught exception: ${describe(e)}`));

function describe(e) {
  if (e instanceof Error) return e.stack ?? e.message;
  return typeof e === 'string' ? e : JSON.stringify(e);
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

function expectEqual(got, want, what) {
  if (!isDeepStrictEqual(got, want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

let stepNo = 0;
// step runs fn, bounded by the step timeout, and prints its outcome.
async function step(name, fn) {
  stepNo++;
  console.log(`STEP ${stepNo} ${name}`);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${stepTimeout} ms`)), stepTimeout);
  });
  try {
    const result = await Promise.race([fn(), timeout]);
    console.log(`  ok ${name}`);
    return result;
  } catch (e) {
    fail(`step ${stepNo} (${name}): ${describe(e)}`);
  } finally {
    clearTimeout(timer);
  }
}

// httpPut changes the thing through the HTTP API, so that the WebSocket
// session sees an event it did not cause.
async function httpPut(path, body) {
  const res = await fetch(new URL(`/api/2/things/${path}`, base), {
    method: 'PUT',
    headers: {
      'Authorization': `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  console.log(`  HTTP PUT ${path}: ${res.status} ${text}`);
  return res.status;
}

const namespace = 'org.eclipse.ditto.jsclient';
const thingId = `${namespace}:thing-${randomUUID().slice(0, 8)}`;
const attributes = { manufacturer: 'ACME', location: 'Kitchen', counter: 1 };

console.log(`Ditto ${base.href} as ${user}, thing ${thingId}`);
client = DittoNodeClient.newWebSocketClient()
  .withoutTls()
  .withDomain(base.host)
  .withAuthProvider(NodeWebSocketBasicAuth.newInstance(user, password))
  .withBuffer(16)
  .twinChannel()
  .build();
const things = client.getThingsHandle();
const events = client.getEventsHandle();

await step('create the thing over WebSocket (things/twin/commands/create)', async () => {
  const res = await things.createThing(new Thing(thingId, undefined, attributes));
  expectEqual(res.status, 201, 'status');
  expectEqual(res.body?.thingId, thingId, 'created thingId');
  expectEqual(res.body?.attributes, attributes, 'created attributes');
});

let policyId;
await step('retrieve the thing and check its attributes', async () => {
  const thing = await things.getThing(thingId);
  expectEqual(thing.thingId, thingId, 'thingId');
  expectEqual(thing.attributes, attributes, 'attributes');
  expectEqual(thing.policyId, thingId, 'policyId (the default policy is named after the thing)');
  policyId = thing.policyId;
});

await step('modify an attribute and read it back', async () => {
  const res = await things.putAttribute(thingId, 'location', 'Living Room');
  expectEqual(res.status, 204, 'modify status');
  expectEqual(await things.getAttribute(thingId, 'location'), 'Living Room', 'location read back');
});

await step('request change notifications (START-SEND-EVENTS)', () => events.requestEvents());

// Events arrive through the client's subscriptions; received keeps them all.
const received = [];
let notify = () => {};
events.subscribeToThing(thingId, (e) => {
  received.push(e);
  notify();
});
function nextEvent(pred) {
  return new Promise((resolve) => {
    const check = () => {
      const e = received.find(pred);
      if (e) resolve(e);
    };
    notify = check;
    check();
  });
}

await step('modify an attribute over WebSocket (no event for the own command)', async () => {
  const res = await things.putAttribute(thingId, 'counter', 2);
  expectEqual(res.status, 204, 'modify status');
});

await step('receive the event of an HTTP PUT', async () => {
  const status = await httpPut(`${thingId}/attributes/counter`, 42);
  expectEqual(status, 204, 'HTTP PUT status');
  const e = await nextEvent((e) => e.path === '/attributes/counter' && e.value === 42);
  expectEqual(e.topic, `${namespace}/${thingId.slice(namespace.length + 1)}/things/twin/events/modified`, 'event topic');
  expectEqual(e.action, 'modified', 'event action');
  const own = received.filter((e) => e.value === 2);
  expect(own.length === 0, `the session got the event of its own command: ${JSON.stringify(own)}`);
});

await step('receive the event of an HTTP PUT on a sub-resource subscription', async () => {
  const got = new Promise((resolve) => {
    events.subscribeToAttribute(thingId, 'location', resolve);
  });
  const status = await httpPut(`${thingId}/attributes/location`, 'Garage');
  expectEqual(status, 204, 'HTTP PUT status');
  const e = await got;
  expectEqual([e.action, e.path, e.value], ['modified', '/attributes/location', 'Garage'], 'event');
});

await step('stop change notifications (STOP-SEND-EVENTS)', () => events.stopEvents());

await step('request and stop messages and live commands (acknowledged only)', async () => {
  const messages = client.getMessagesHandle();
  const commands = client.getCommandsHandle();
  await messages.requestMessages();
  await commands.requestCommands();
  await messages.stopMessages();
  await commands.stopCommands();
});

await step('read the policy id over WebSocket', async () => {
  expectEqual(await things.getPolicyId(thingId), policyId, 'policyId');
});

await step('retrieve the policy over WebSocket (policies/commands/retrieve)', async () => {
  // 3.9.1's WebSocket client has no policies handle (its request senders
  // put a channel into every topic, which policy topics do not have), so
  // this goes through the client's own request handler, the one every
  // handle uses to frame a command and match its response.
  const [ns, name] = [policyId.slice(0, policyId.indexOf(':')), policyId.slice(policyId.indexOf(':') + 1)];
  const res = await client.responseHandler.sendRequest(`${ns}/${name}/policies/commands/retrieve`, '/', undefined, {});
  expectEqual(res.status, 200, 'status');
  expectEqual(res.body?.policyId, policyId, 'policyId');
  expect(Object.values(res.body?.entries ?? {}).some((e) => e.subjects?.[`nginx:${user}`]),
    `no entry names nginx:${user} in ${JSON.stringify(res.body)}`);
});

await step("retrieve the thing's policy through the policies handle (HTTP client)", async () => {
  // The WebSocket client of 3.9.1 has no policies handle; the HTTP client has.
  const http = DittoNodeClient.newHttpClient()
    .withoutTls()
    .withDomain(base.host)
    .withAuthProvider(NodeHttpBasicAuth.newInstance(user, password))
    .build();
  const policy = await http.getPoliciesHandle().getPolicy(policyId);
  expectEqual(policy.id, policyId, 'policy id');
  const granted = Object.values(policy.entries).some((entry) =>
    Object.keys(entry.subjects).includes(`nginx:${user}`)
    && ['READ', 'WRITE'].every((p) => entry.resources['thing:/']?.grant?.includes(p)));
  expect(granted, `no entry grants nginx:${user} READ and WRITE on thing:/ in ${JSON.stringify(policy.toObject())}`);
});

await step('delete the thing over WebSocket', async () => {
  const res = await things.deleteThing(thingId);
  expectEqual(res.status, 204, 'delete status');
});

await step('the deleted thing is gone (things:thing.notfound)', async () => {
  const err = await things.getThing(thingId).then(
    (t) => { throw new Error(`getThing after delete returned ${JSON.stringify(t)}`); },
    (e) => e,
  );
  expectEqual([err?.status, err?.error], [404, 'things:thing.notfound'], 'error');
});

client.close();
console.log(`PASS all ${stepNo} steps`);
process.exit(0);
