// The socket.io JS client (the browser client of the motivating dashboard), run in node with
// Debian's node-ws as its WebSocket. Usage: node js_client.js SOCKET_IO_MIN_JS WS_MODULE URL SECONDS
// Prints one JSON object a line: connect, ping, echo replies, acks, disconnect with socket.io's reason.
const [bundle, wsModule, url, seconds] = process.argv.slice(2);
globalThis.WebSocket = require(wsModule);
const io = require(bundle);
const start = Date.now();
const log = (type, extra = {}) => console.log(JSON.stringify({ t: (Date.now() - start) / 1000, type, ...extra }));

const socket = io(url, { transports: ['websocket'], reconnection: false, timeout: 5000 });
socket.io.on('ping', () => log('ping'));
socket.on('connect', () => {
  log('connect');
  socket.emit('echo', { from: 'js', n: 1 }, (ack) => log('ack', { data: ack }));
  socket.emit('ask', { n: 21 });
});
socket.on('echo', (data) => log('echo', { data }));
socket.on('question', (data, answer) => { log('question', { data }); answer({ answer: data.n * 2 }); });
socket.on('connect_error', (err) => log('connect_error', { message: String(err && err.message) }));
socket.on('disconnect', (reason) => { log('disconnect', { reason }); process.exit(0); });
setTimeout(() => { socket.disconnect(); }, Number(seconds) * 1000);
