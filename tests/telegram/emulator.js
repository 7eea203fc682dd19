// A Telegram Bot API emulator for Plaza's tests.
//
// telegram-test-api (npm) keeps the messages and gives tests the client side (a test
// plays residents and crews: POST /sendMessage, /sendCallback, /getUpdatesHistory).
// This file puts a thin layer in front of its bot side so that it behaves as the real
// Bot API does for teloxide:
//   - getMe and getWebhookInfo answer with every field teloxide requires;
//   - getUpdates is real long polling with offsets: updates stay until confirmed by a
//     later offset, a request waits up to `timeout` seconds for new ones;
//   - sendMessage / editMessageText / answerCallbackQuery return complete objects
//     (dates in seconds, `from`, chat types) instead of milliseconds and nulls;
//   - callback queries get their `chat_instance`;
//   - setWebhook pushes updates to the URL with X-Telegram-Bot-Api-Secret-Token;
//   - POST /_plaza/fail makes the next N sendMessage calls answer HTTP 429 with
//     retry_after, as Telegram does when a bot sends too fast;
//   - POST /_plaza/sent lists what the bot sent, with the time each arrived (ms);
//   - POST /_plaza/answers lists the bot's answers to button presses (toast texts).
//
// Usage: node emulator.js [--port N]   (N = 0: any free port). Prints "READY <port>".

'use strict';

const TelegramServer = require('telegram-test-api');
const express = require('express');

const args = process.argv.slice(2);
const portArg = args.indexOf('--port');
const port = portArg >= 0 ? Number(args[portArg + 1]) : 0;

const BOT = { id: 777000, is_bot: true, first_name: 'Jun', username: 'JunTownBot' };

const server = new TelegramServer({ port: 0, host: '127.0.0.1', storeTimeout: 24 * 3600 });

const queues = new Map(); // token -> confirmed-less updates, in order
const hooks = new Map(); // token -> { url, secret }
const failures = new Map(); // token -> { count, retryAfter }
const waiters = new Set(); // pending long polls: () => void

function queue(token) {
  if (!queues.has(token)) queues.set(token, []);
  return queues.get(token);
}

function chatOf(id, original) {
  if (original && original.type) return original;
  const n = Number(id);
  return n < 0
    ? { id: n, type: 'supergroup', title: `group ${n}` }
    : { id: n, type: 'private', first_name: `user ${n}` };
}

function completeUser(u) {
  return Object.assign({ is_bot: false, first_name: 'someone' }, u);
}

function completeMessage(m) {
  if (!m) return m;
  const out = Object.assign({}, m);
  delete out.botToken;
  if (out.date === undefined) out.date = Math.floor(Date.now() / 1000);
  if (out.date > 1e11) out.date = Math.floor(out.date / 1000);
  if (out.from) out.from = completeUser(out.from);
  if (out.chat) out.chat = chatOf(out.chat.id, out.chat);
  if (out.reply_to_message) out.reply_to_message = completeMessage(out.reply_to_message);
  return out;
}

// Moves what telegram-test-api received from "people" into our per-token queues.
function pull(token) {
  const q = queue(token);
  for (const u of server.getUpdates(token)) {
    if (u.callback_query) {
      const cq = u.callback_query;
      cq.from = completeUser(cq.from);
      cq.message = completeMessage(cq.message);
      cq.chat_instance = String(cq.message && cq.message.chat ? cq.message.chat.id : 0);
    } else if (u.message) {
      u.message = completeMessage(u.message);
    }
    q.push(u);
  }
  return q;
}

function wake() {
  for (const w of Array.from(waiters)) w();
  for (const token of hooks.keys()) push(token);
}
for (const ev of ['AddedUserMessage', 'AddedUserCommand', 'AddedUserCallbackQuery']) server.on(ev, wake);

// Webhook delivery, one update at a time, in order; kept until the bot answers 2xx.
const pushing = new Set();
async function push(token) {
  if (pushing.has(token)) return;
  pushing.add(token);
  try {
    const q = pull(token);
    while (q.length && hooks.has(token)) {
      const hook = hooks.get(token);
      let ok = false;
      try {
        const resp = await fetch(hook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': hook.secret || '' },
          body: JSON.stringify(q[0]),
        });
        ok = resp.ok;
      } catch (e) {
        ok = false;
      }
      if (ok) q.shift();
      else await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    pushing.delete(token);
  }
}

// The text fields of a multipart/form-data body (teloxide sends setWebhook that way).
function multipartFields(req) {
  const type = req.headers['content-type'] || '';
  const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
  if (!m || !Buffer.isBuffer(req.body)) return {};
  const boundary = '--' + (m[1] || m[2]);
  const fields = {};
  for (const part of req.body.toString('utf8').split(boundary)) {
    const sep = part.indexOf('\r\n\r\n');
    if (sep < 0) continue;
    const name = /name="([^"]+)"/.exec(part.slice(0, sep));
    if (!name) continue;
    fields[name[1]] = part.slice(sep + 4).replace(/\r\n$/, '');
  }
  return fields;
}

function body(req) {
  const parsed = Buffer.isBuffer(req.body) ? multipartFields(req) : req.body;
  return Object.assign({}, req.query || {}, parsed || {});
}

function sendResult(res, result) {
  res.status(200).json({ ok: true, result });
}

function botMessageResult(stored) {
  const m = stored.message;
  const out = {
    message_id: stored.messageId,
    from: BOT,
    chat: chatOf(m.chat_id),
    date: Math.floor(stored.time / 1000),
    text: m.text,
  };
  const markup = typeof m.reply_markup === 'string' ? JSON.parse(m.reply_markup) : m.reply_markup;
  if (markup && markup.inline_keyboard) out.reply_markup = markup;
  return out;
}

const app = express();
app.use(express.json({ limit: '5mb' }));
app.use(express.raw({ type: 'multipart/form-data', limit: '5mb' }));
app.use(express.urlencoded({ extended: true }));

// An outage: for the bot, the Bot API is unreachable (connections are reset) until
// `downUntil`; the test's client routes keep working. Long polls already waiting are
// cut too.
let downUntil = 0;
let downAfterUpdate = 0; // seconds of outage to start once the bot has taken an update
const openPolls = new Set();
app.use((req, res, next) => {
  if (req.path.startsWith('/bot') && Date.now() < downUntil) {
    req.socket.destroy();
    return undefined;
  }
  return next();
});
app.post('/_plaza/down', (req, res) => {
  const seconds = Number(body(req).seconds || 60);
  if (String(body(req).after_next_update) === 'true') {
    downAfterUpdate = seconds;
  } else {
    downUntil = Date.now() + seconds * 1000;
    for (const s of openPolls) s.destroy();
    openPolls.clear();
  }
  sendResult(res, true);
});
// getUpdates answers through this: an outage armed with after_next_update starts right
// after the bot has taken an update, so that what it causes meets the outage.
function sendUpdates(res, list) {
  sendResult(res, list);
  if (list.length && downAfterUpdate > 0) {
    downUntil = Date.now() + downAfterUpdate * 1000;
    downAfterUpdate = 0;
  }
}

app.all('/bot:token/getMe', (req, res) =>
  sendResult(res, Object.assign({}, BOT, {
    can_join_groups: true,
    can_read_all_group_messages: true,
    supports_inline_queries: false,
    can_connect_to_business: false,
    has_main_web_app: false,
  })));

app.all('/bot:token/getWebhookInfo', (req, res) => {
  const hook = hooks.get(req.params.token);
  sendResult(res, { url: hook ? hook.url : '', has_custom_certificate: false, pending_update_count: pull(req.params.token).length });
});

app.all('/bot:token/setWebhook', (req, res) => {
  const b = body(req);
  hooks.set(req.params.token, { url: b.url, secret: b.secret_token });
  sendResult(res, true);
  push(req.params.token);
});

app.all('/bot:token/deleteWebhook', (req, res) => {
  hooks.delete(req.params.token);
  if (String(body(req).drop_pending_updates) === 'true') queue(req.params.token).length = 0;
  sendResult(res, true);
});

app.all('/bot:token/getUpdates', (req, res) => {
  const token = req.params.token;
  const b = body(req);
  const offset = Number(b.offset || 0);
  const limit = Math.min(Number(b.limit || 100), 100);
  const timeout = Math.min(Number(b.timeout || 0), 50);
  const answer = () => {
    const q = pull(token);
    if (offset > 0) while (q.length && q[0].update_id < offset) q.shift();
    return q.slice(0, limit);
  };
  const now = answer();
  if (now.length || timeout === 0) return sendUpdates(res, now);
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    waiters.delete(waiter);
    clearTimeout(timer);
    if (!res.writableEnded) sendUpdates(res, answer());
  };
  const waiter = () => setImmediate(finish);
  waiters.add(waiter);
  openPolls.add(req.socket);
  res.on('finish', () => openPolls.delete(req.socket));
  const timer = setTimeout(finish, timeout * 1000);
  // The client went away (not 'close' on req: that fires once its body is read).
  res.on('close', () => {
    done = true;
    waiters.delete(waiter);
    clearTimeout(timer);
  });
});

app.all('/bot:token/sendMessage', (req, res) => {
  const token = req.params.token;
  const f = failures.get(token);
  if (f && f.count > 0) {
    f.count -= 1;
    return res.status(429).json({
      ok: false,
      error_code: 429,
      description: `Too Many Requests: retry after ${f.retryAfter}`,
      parameters: { retry_after: f.retryAfter },
    });
  }
  const b = body(req);
  if (b.chat_id === undefined || b.text === undefined || String(b.text).length === 0) {
    return res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
  }
  if (String(b.text).length > 4096) {
    return res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: message is too long' });
  }
  server.addBotMessage(b, token);
  const stored = server.storage.botMessages[server.storage.botMessages.length - 1];
  sendResult(res, botMessageResult(stored));
});

app.all('/bot:token/editMessageText', (req, res) => {
  const b = body(req);
  const stored = server.storage.botMessages.find(
    (u) => u.botToken === req.params.token && String(u.messageId) === String(b.message_id)
      && String(u.message.chat_id) === String(b.chat_id),
  );
  if (!stored) {
    return res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: message to edit not found' });
  }
  if (stored.message.text === b.text && !b.reply_markup) {
    return res.status(400).json({
      ok: false,
      error_code: 400,
      description: 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
    });
  }
  server.editMessageText(b);
  stored.edits = (stored.edits || 0) + 1;
  sendResult(res, botMessageResult(stored));
});

app.all('/bot:token/deleteMessage', (req, res) => {
  const b = body(req);
  const stored = server.storage.botMessages.find(
    (u) => u.botToken === req.params.token && String(u.messageId) === String(b.message_id)
      && String(u.message.chat_id) === String(b.chat_id) && !u.deleted,
  );
  if (!stored) {
    return res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: message to delete not found' });
  }
  stored.deleted = true;
  sendResult(res, true);
});

// Button presses answered by the bot, with the toast text shown to the person if any.
const answers = [];
app.all('/bot:token/answerCallbackQuery', (req, res) => {
  const b = body(req);
  answers.push({ token: req.params.token, callback_query_id: String(b.callback_query_id), text: b.text || '', time: Date.now() });
  sendResult(res, true);
});

app.post('/_plaza/answers', (req, res) => {
  const token = body(req).token;
  sendResult(res, answers.filter((a) => a.token === token));
});

app.post('/_plaza/fail', (req, res) => {
  const b = body(req);
  failures.set(b.token, { count: Number(b.count || 1), retryAfter: Number(b.retry_after || 1) });
  sendResult(res, true);
});

app.post('/_plaza/sent', (req, res) => {
  const token = body(req).token;
  sendResult(res, server.storage.botMessages
    .filter((u) => u.botToken === token)
    .map((u) => Object.assign(botMessageResult(u), {
      time: u.time,
      edits: u.edits || 0,
      deleted: u.deleted || false,
      reply_parameters: u.message.reply_parameters,
    })));
});

// Everything else: telegram-test-api itself (client routes, other bot methods).
app.use(server.webServer);

const listener = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${listener.address().port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
