// One step of ToxiproxyClientTests.cs against echokit proxy's API, through toxiproxy-node-client's public API only:
//   node client.js URL STEP [ARGS...]
// prints one JSON line: {"ok": true, "result": ...} or {"ok": false, "error": "..."}; the exit code is 0 either way,
// so the test sees the client's own error for a step meant to fail.
"use strict";
const { Toxiproxy, ToxiproxyError } = require("toxiproxy-node-client");

const [url, step, ...args] = process.argv.slice(2);
const toxiproxy = new Toxiproxy(url);

// What the client reports about a proxy or a toxic: the fields its classes keep.
const proxyJson = (proxy) => proxy.toJson();
const toxicJson = (toxic) => toxic.toJson();

const steps = {
  // create NAME UPSTREAM: a proxy on a port the server picks.
  create: async (name, upstream) => proxyJson(await toxiproxy.createProxy({ name, listen: "127.0.0.1:0", upstream })),
  get: async (name) => proxyJson(await toxiproxy.get(name)),
  all: async () => Object.fromEntries(Object.entries(await toxiproxy.getAll()).map(([name, proxy]) => [name, proxyJson(proxy)])),
  version: async () => toxiproxy.getVersion(),
  // add-latency NAME STREAM MS: a latency toxic with the default name (latency_STREAM).
  "add-latency": async (name, stream, ms) => {
    const proxy = await toxiproxy.get(name);
    return toxicJson(await proxy.addToxic({ type: "latency", stream, toxicity: 1, attributes: { latency: Number(ms), jitter: 0 } }));
  },
  // toxics NAME: the toxics as the server lists them (the client reads them through getToxic).
  toxic: async (name, toxicName) => toxicJson(await (await toxiproxy.get(name)).getToxic(toxicName)),
  // update-latency NAME TOXIC MS: the toxic's attributes changed through Toxic.update.
  "update-latency": async (name, toxicName, ms) => {
    const toxic = await (await toxiproxy.get(name)).getToxic(toxicName);
    return toxicJson(await toxic.update({ ...toxic.toJson(), attributes: { ...toxic.attributes, latency: Number(ms) } }));
  },
  "remove-toxic": async (name, toxicName) => {
    await (await (await toxiproxy.get(name)).getToxic(toxicName)).remove();
    return null;
  },
  // enable NAME true|false: Proxy.update with the proxy's own fields and enabled changed.
  enable: async (name, enabled) => {
    const proxy = await toxiproxy.get(name);
    return proxyJson(await proxy.update({ ...proxy.toJson(), enabled: enabled === "true" }));
  },
  populate: async (name, upstream) => {
    const proxies = await toxiproxy.populate([{ name, listen: "127.0.0.1:0", upstream }]);
    return Object.fromEntries(Object.entries(proxies).map(([n, proxy]) => [n, proxyJson(proxy)]));
  },
  reset: async () => {
    await toxiproxy.reset();
    return null;
  },
  delete: async (name) => {
    await (await toxiproxy.get(name)).remove();
    return null;
  },
};

(async () => {
  try {
    if (!steps[step]) {
      throw new Error(`unknown step '${step}'; the steps are ${Object.keys(steps).join(", ")}`);
    }
    const result = await steps[step](...args);
    console.log(JSON.stringify({ ok: true, result }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: String(e && e.message), clientError: e instanceof ToxiproxyError }));
  }
})();
