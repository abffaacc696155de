// The socket.io JS client with reconnection on, for connection state recovery (socket.io 4.6+).
// Usage: node js_recovery_client.js SOCKET_IO_MIN_JS WS_MODULE URL SECONDS
// Prints one JSON object a line: connect (with socket.id and socket.recovered), each broadcast
// event's sequence number and offset argument, disconnect reasons, connect errors.
const [bundle, wsModule, url, seconds] = process.argv.slice(2);
globalThis.WebSocket = require(wsModule);
const io = require(bundle);
const start = Date.now();
const log = (type, extra = {}) => console.log(JSON.stringify({ t: (Date.now() - start) / 1000, type, ...extra }));

const socket = io(url, { transports: ['websocket'], reconnectionDelay: 200, reconnectionDelayMax: 200,
                         randomizationFactor: 0, timeout: 2000 });
socket.on('connect', () => log('connect', { id: socket.id, recovered: socket.recovered }));
socket.on('broadcast', (data, offset) => log('broadcast', { seq: data && data.seq, offset }));
socket.on('connect_error', (err) => log('connect_error', { message: String(err && err.message) }));
socket.on('disconnect', (reason) => log('disconnect', { reason }));
setTimeout(() => { socket.disconnect(); log('done'); process.exit(0); }, Number(seconds) * 1000);
