#!/usr/bin/env python3
"""A disposable e-mail check for riskd, as an out-of-process verifier in Python.

It implements risk.verifier.v1.VerifierService (proto/risk/verifier/v1/
verifier.proto) to show that the protocol needs nothing from Go: any language
with gRPC and protobuf can answer riskd.

For a seller check it looks at the fact "contact.email": when the address is
at a known disposable-mail service it finds EMAIL_DISPOSABLE. It always
returns the signals
  domain_listed  bool, whether the e-mail's domain is on the built-in list
  trace_id       the W3C trace ID riskd sent in "traceparent", or ""

The generated stubs are not committed; make them with generate.sh and pass
their directory:

  examples/python-verifier/generate.sh /tmp/riskd-py-stubs
  /usr/bin/python3 examples/python-verifier/verifier.py --port 7071 --stubs /tmp/riskd-py-stubs

When it is ready it prints one line, "listening 127.0.0.1:PORT", to stdout.
SIGTERM or SIGINT stop it cleanly (calls in flight get a few seconds).
"""

import argparse
import logging
import re
import signal
import sys
import threading
from concurrent import futures

# Well-known disposable-mail services. A real deployment would load a list
# that is kept up to date; a built-in set keeps the example self-contained.
DISPOSABLE_DOMAINS = frozenset(
    {
        "mailinator.com",
        "10minutemail.com",
        "guerrillamail.com",
        "guerrillamail.net",
        "sharklasers.com",
        "yopmail.com",
        "trashmail.com",
        "temp-mail.org",
        "throwawaymail.com",
        "maildrop.cc",
    }
)

# W3C Trace Context: version-traceid-parentid-flags, lower-case hex.
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")

CODE_DISPOSABLE = "EMAIL_DISPOSABLE"
SCORE_DISPOSABLE = 20

log = logging.getLogger("python-verifier")


def trace_id_from(metadata):
    """Returns the trace ID of a valid "traceparent" header, or ""."""
    for key, value in metadata or ():
        if key.lower() != "traceparent":
            continue
        m = _TRACEPARENT.match(value.strip()) if isinstance(value, str) else None
        if not m:
            return ""
        version, trace_id, parent_id, _flags, rest = m.groups()
        # Version ff is invalid; version 00 has nothing after the flags.
        if version == "ff" or (version == "00" and rest):
            return ""
        if trace_id == "0" * 32 or parent_id == "0" * 16:
            return ""
        return trace_id
    return ""


def email_domain(email):
    """The domain of an address, lower case, without a trailing dot; "" if none."""
    local, sep, domain = email.strip().rpartition("@")
    if not sep or not local:
        return ""
    return domain.strip().rstrip(".").lower()


def is_listed(domain):
    """True when domain, or a domain it is under, is a disposable service."""
    labels = domain.split(".")
    return any(".".join(labels[i:]) in DISPOSABLE_DOMAINS for i in range(len(labels) - 1))


def make_servicer(pb2, pb2_grpc):
    """Builds the servicer class from the generated modules."""
    import grpc

    class DisposableEmailVerifier(pb2_grpc.VerifierServiceServicer):
        """Answers Verify. It is a pure function of the request, so the same
        decision asked twice (riskd retried by its caller) gets the same answer."""

        def Verify(self, request, context):
            trace_id = trace_id_from(context.invocation_metadata())
            resp = pb2.VerifyResponse()
            resp.signals["trace_id"].string_value = trace_id

            # riskd's deadline is the verifier's budget. Past it, riskd has
            # already decided without us; do no more work.
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "budget spent before the check started")

            if request.check != pb2.CHECK_SELLER:
                resp.signals["domain_listed"].bool_value = False
                return resp

            fact = request.facts.get("contact.email")
            if fact is not None and fact.WhichOneof("kind") not in (None, "string_value"):
                # A policy wiring the wrong field is an error, not "nothing found".
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "contact.email must be a string")
            email = fact.string_value if fact is not None else ""
            domain = email_domain(email)
            listed = bool(domain) and is_listed(domain)
            resp.signals["domain_listed"].bool_value = listed
            if listed:
                resp.findings.add(
                    code=CODE_DISPOSABLE,
                    score=SCORE_DISPOSABLE,
                    # No personal data: not the address, not the domain.
                    message="The seller's contact e-mail is at a disposable, throwaway mail service.",
                )
            # Log the decision and trace, never the address.
            log.info(
                "verified decision_id=%s trace_id=%s listed=%s",
                request.decision_id,
                trace_id or "-",
                listed,
            )
            return resp

    return DisposableEmailVerifier


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=7071, help="TCP port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--stubs", required=True, help="directory generate.sh wrote the Python stubs into")
    parser.add_argument("--workers", type=int, default=8, help="threads answering calls")
    args = parser.parse_args(argv)

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    sys.path.insert(0, args.stubs)
    try:
        import grpc
        from risk.verifier.v1 import verifier_pb2, verifier_pb2_grpc
    except ImportError as e:
        print(
            f"python-verifier: {e}. Install python3-grpcio and python3-protobuf, and "
            f"generate the stubs into {args.stubs} with generate.sh.",
            file=sys.stderr,
        )
        return 2

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    verifier_pb2_grpc.add_VerifierServiceServicer_to_server(make_servicer(verifier_pb2, verifier_pb2_grpc)(), server)
    try:
        port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    except RuntimeError as e:
        port, err = 0, e
    else:
        err = None
    if not port:
        print(f"python-verifier: cannot listen on 127.0.0.1:{args.port}: {err or 'port in use?'}", file=sys.stderr)
        return 1

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    server.start()
    print(f"listening 127.0.0.1:{port}", flush=True)
    while not stop.wait(1):
        pass
    log.info("stopping")
    # Calls in flight get a grace period; riskd's budgets are far shorter.
    server.stop(grace=5).wait()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
