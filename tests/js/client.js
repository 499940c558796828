// One PubNub JavaScript client, driven by a test: commands in, what happened out.
//
// Usage: node client.js '<JSON configuration>'
//
// The configuration is passed to `new PubNub(...)` as it is, plus `maxSeconds`: the
// process ends by itself after that long, whatever the test does.
//
// stdin: one JSON command per line, {"id": 1, "call": "hereNow", "args": {...}}.
// `call` names a method of the client, dotted for nested ones ("channelGroups.addChannels");
// it is called with `args` and awaited.
// stdout: one JSON object per line: {"id", "ok": true, "result"} or {"id", "ok": false,
// "error"} for each command, and {"event": "status" | "presence" | "message", ...} for
// what the client's listener receives. Closing stdin ends the process.
"use strict";

const readline = require("node:readline");
const PubNub = require("pubnub");

const { maxSeconds = 60, ...options } = JSON.parse(process.argv[2]);

function emit(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

setTimeout(() => {
  emit({ event: "deadline", seconds: maxSeconds });
  process.exit(3);
}, maxSeconds * 1000);

const pubnub = new PubNub({ logLevel: PubNub.LogLevel.None, ...options });
pubnub.addListener({
  status: (status) => emit({ event: "status", category: status.category }),
  presence: (presence) => emit({ event: "presence", ...presence }),
  message: (message) => emit({ event: "message", ...message }),
});

function method(path) {
  const names = path.split(".");
  const last = names.pop();
  const owner = names.reduce((object, name) => object[name], pubnub);
  if (typeof owner[last] !== "function") throw new Error(`no method ${path}`);
  return owner[last].bind(owner);
}

function describe(error) {
  // A PubNubError carries the server's answer in `status`.
  return error && error.status ? JSON.stringify(error.status) : String(error);
}

readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  const { id, call, args } = JSON.parse(line);
  try {
    const result = await method(call)(args);
    emit({ id, ok: true, result: result === undefined ? null : result });
  } catch (error) {
    emit({ id, ok: false, error: describe(error) });
  }
}).on("close", () => process.exit(0));
