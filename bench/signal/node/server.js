// The minimal socket.io server of bench/signal: join one room, broadcast what is sent, ack.
// It does no checks at all, so it is the floor a real signalling server is compared with.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 0);
const httpServer = http.createServer();
const io = new Server(httpServer, { transports: ["websocket"], maxHttpBufferSize: 1e6 });

io.on("connection", (socket) => {
  socket.on("joinRoom", (data, ack) => {
    socket.join("room");
    if (typeof ack === "function") ack(0, { s: 0 });
  });
  for (const ev of ["sendMessage", "pubMsg"]) {
    socket.on(ev, (data, ack) => {
      io.to("room").emit(ev, data);
      if (typeof ack === "function") ack(0, {});
    });
  }
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening ${httpServer.address().port}`);
});
