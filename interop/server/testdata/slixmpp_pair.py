# Two slixmpp clients exchange messages through the xmppe2e test network.
# usage: slixmpp_pair.py CA_PEM A_JID A_PASS A_ADDR B_JID B_PASS B_ADDR MECH
# Prints one line per message received; exits non-zero on timeout.
import asyncio, sys, logging
import slixmpp

ca, ajid, apw, aaddr, bjid, bpw, baddr, mech = sys.argv[1:9]

class C(slixmpp.ClientXMPP):
    def __init__(self, jid, pw, addr):
        super().__init__(jid, pw, sasl_mech=mech or None)
        self.ca_certs = ca
        host, port = addr.rsplit(":", 1)
        self.target = (host, int(port))
        loop = asyncio.get_event_loop()
        self.ready, self.got = loop.create_future(), loop.create_future()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.msg)
        self.add_event_handler("failed_auth", lambda _: self.ready.done() or self.ready.set_exception(RuntimeError("auth failed")))

    async def start(self, _):
        self.send_presence()
        await self.get_roster()
        self.ready.done() or self.ready.set_result(1)

    def msg(self, m):
        if m["type"] in ("chat", "normal") and not self.got.done():
            self.got.set_result(m)

async def main():
    a, b = C(ajid, apw, aaddr), C(bjid, bpw, baddr)
    a.connect(a.target); b.connect(b.target)
    await asyncio.wait_for(asyncio.gather(a.ready, b.ready), 20)
    a.send_message(mto=bjid, mbody="hello from slixmpp <&>", mtype="chat")
    m = await asyncio.wait_for(b.got, 20)
    print("B got", m["from"], m["body"])
    b.send_message(mto=m["from"], mbody="reply from slixmpp", mtype="chat")
    m = await asyncio.wait_for(a.got, 20)
    print("A got", m["from"], m["body"])
    a.disconnect(); b.disconnect()
    await asyncio.sleep(0.3)

asyncio.run(main())
