#!/usr/bin/env python3
"""A Modbus server built on pymodbus, a peer hazgate did not write.

Integration tests start it with known register values, read them through the
gateway and compare. It serves Modbus TCP on loopback, or Modbus RTU on a
serial device (--serial, for example one end of a socat pty pair). It prints
"READY <port>" (0 for serial) on stdout once it serves and runs until
killed, so a test can kill it (comm loss) and start it again on the same
port or device (recovery).

    pymodbus_server.py --port 0 --unit 1 --size 100 \
        --input 0=250,1=int16:-5,2=uint32:70000,4=float32/CDAB:12.5 \
        --holding 10=int32:-123456 --coils 3=1 --discrete 0=1 \
        --units '{"2": {"holding": "0=float64/DCBA:1.5"}}'

Register values are ADDR=VAL (a raw 16-bit word, decimal or 0x hex) or
ADDR=TYPE[/ORDER]:VAL with TYPE one of uint16, int16, uint32, int32, uint64,
int64, float32, float64 and ORDER one of ABCD (the default: big-endian, high
word first), CDAB (words swapped), BADC (bytes swapped in each word), DCBA
(little-endian). Bits are ADDR=0|1. --units adds unit ids with tables of their
own. Every table holds addresses 0..size-1; a read past that answers exception
0x02 (illegal data address). A request to a unit id the server lacks gets no
answer at all, as on a bus where that device is dead.

Written for pymodbus 3.0.0rc1 (Debian's python3-pymodbus).
"""

import argparse
import asyncio
import json
import logging
import struct
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer

PACK = {
    "uint16": ">H",
    "int16": ">h",
    "uint32": ">I",
    "int32": ">i",
    "uint64": ">Q",
    "int64": ">q",
    "float32": ">f",
    "float64": ">d",
}

ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")


def reorder(raw, order):
    """Put big-endian bytes (ABCD) into ORDER, as a device would send them."""
    pairs = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if order in ("CDAB", "DCBA"):  # low word first
        pairs.reverse()
    if order in ("BADC", "DCBA"):  # bytes swapped within each word
        pairs = [p[::-1] for p in pairs]
    return b"".join(pairs)


def words(spec):
    """Turn VAL or TYPE[/ORDER]:VAL into a list of 16-bit register words."""
    if ":" not in spec:
        v = int(spec, 0)
        if not 0 <= v <= 0xFFFF:
            raise ValueError(f"raw register value {spec} outside 0..65535")
        return [v]
    typ, val = spec.split(":", 1)
    typ, _, order = typ.partition("/")
    order = order or "ABCD"
    if typ not in PACK:
        raise ValueError(f"unknown type {typ!r}")
    if order not in ORDERS:
        raise ValueError(f"unknown byte order {order!r}")
    num = float(val) if typ.startswith("float") else int(val, 0)
    raw = reorder(struct.pack(PACK[typ], num), order)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def assignments(arg, bits):
    """Parse ADDR=VAL,... into {addr: [values]}."""
    out = {}
    if not arg:
        return out
    for item in arg.split(","):
        item = item.strip()
        if not item:
            continue
        addr, _, val = item.partition("=")
        if not val:
            raise ValueError(f"{item!r}: want ADDR=VAL")
        a = int(addr, 0)
        if bits:
            if val not in ("0", "1"):
                raise ValueError(f"{item!r}: a bit is 0 or 1")
            out[a] = [val == "1"]
        else:
            out[a] = words(val)
    return out


def block(size, values, bits):
    data = [False if bits else 0] * size
    for addr, vals in values.items():
        if addr + len(vals) > size:
            raise ValueError(f"address {addr} (+{len(vals)}) past --size {size}")
        data[addr : addr + len(vals)] = vals
    return ModbusSequentialDataBlock(0, data)


def slave(size, tables):
    """A unit's four tables from {"input": "ADDR=VAL,...", ...}."""
    return ModbusSlaveContext(
        ir=block(size, assignments(tables.get("input", ""), False), False),
        hr=block(size, assignments(tables.get("holding", ""), False), False),
        co=block(size, assignments(tables.get("coils", ""), True), True),
        di=block(size, assignments(tables.get("discrete", ""), True), True),
        zero_mode=True,  # address 0 is register 0, as on the wire
    )


async def serve(args, slaves):
    context = ModbusServerContext(slaves=slaves, single=False)
    if args.serial:
        server = ModbusSerialServer(
            context,
            framer=ModbusRtuFramer,
            port=args.serial,
            baudrate=args.baud,
            parity=args.parity,
            stopbits=args.stopbits,
            bytesize=8,
            ignore_missing_slaves=True,
        )
        await server.start()
        print("READY 0", flush=True)
        await server.serve_forever()
        return
    server = ModbusTcpServer(
        context,
        address=("127.0.0.1", args.port),
        allow_reuse_address=True,  # a restart reuses the port a test knows
        ignore_missing_slaves=True,
    )
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    await task


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--unit", type=int, default=1)
    p.add_argument("--size", type=int, default=100, help="addresses per table")
    p.add_argument("--input", default="")
    p.add_argument("--holding", default="")
    p.add_argument("--coils", default="")
    p.add_argument("--discrete", default="")
    p.add_argument("--units", default="{}", help='more units: {"2": {"input": "0=1"}}')
    p.add_argument("--serial", default="", help="serve RTU on this serial device")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--parity", default="N", choices=["N", "E", "O"])
    p.add_argument("--stopbits", type=int, default=1)
    args = p.parse_args()
    # pymodbus logs every request to a missing unit as an error: that is the
    # dead device a test asks for, not news.
    logging.basicConfig(level=logging.CRITICAL, stream=sys.stderr)
    try:
        own = {"input": args.input, "holding": args.holding, "coils": args.coils, "discrete": args.discrete}
        slaves = {args.unit: slave(args.size, own)}
        for unit, tables in json.loads(args.units).items():
            slaves[int(unit)] = slave(args.size, tables)
    except ValueError as exc:
        p.error(str(exc))
    try:
        asyncio.run(serve(args, slaves))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
