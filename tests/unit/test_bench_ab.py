"""What the benchmarks read from ApacheBench's report (``bench.common.ab_figures``): ``make bench-gateway``'s
figures and ``make bench-revocation --load``'s load, from the text ``ab`` 2.3 prints."""

from __future__ import annotations

from bench.common import ab_figures

#: ``ab -q -k -c 32 -n 20000 -E client.pem -H 'Consortium-Purpose: …' URL``'s report, its figures as printed
REPORT = """This is ApacheBench, Version 2.3 <$Revision: 1923142 $>
Copyright 1996 Adam Twiss, Zeus Technology Ltd, http://www.zeustech.net/
Licensed to The Apache Software Foundation, http://www.apache.org/

Benchmarking localhost (be patient).....done


Server Software:        Python/3.11
Server Hostname:        localhost
Server Port:            21117
SSL/TLS Protocol:       TLSv1.3,TLS_AES_256_GCM_SHA384,256,256
Server Temp Key:        X25519 253 bits
TLS Server Name:        localhost

Document Path:          /v1/quotes
Document Length:        85 bytes

Concurrency Level:      32
Time taken for tests:   12.571 seconds
Complete requests:      20000
Failed requests:        3
   (Connect: 0, Receive: 0, Length: 3, Exceptions: 0)
Non-2xx responses:      12
Keep-Alive requests:    20000
Total transferred:      9860000 bytes
HTML transferred:       1700000 bytes
Requests per second:    1590.96 [#/sec] (mean)
Time per request:       20.114 [ms] (mean)
Time per request:       0.629 [ms] (mean, across all concurrent requests)
Transfer rate:          765.96 [Kbytes/sec] received

Connection Times (ms)
              min  mean[+/-sd] median   max
Connect:        0    0   1.2      0      31
Processing:     2   20   9.3     19     112
Waiting:        2   20   9.3     19     112
Total:          2   20   9.4     19     112

Percentage of the requests served within a certain time (ms)
  50%     19
  66%     21
  75%     23
  80%     25
  90%     31
  95%     37
  98%     49
  99%     60
 100%    112 (longest request)
"""


def test_the_figures_of_a_report() -> None:
    assert ab_figures(REPORT) == {
        "calls_per_s": 1590.96,
        "complete": 20000.0,
        "failed": 3.0,
        "failed_length": 3.0,
        "non_2xx": 12.0,
        "p50_ms": 19.0,
        "p99_ms": 60.0,
    }


def test_non_2xx_and_failures_are_printed_only_when_there_were_some() -> None:
    figures = ab_figures(
        REPORT.replace("Non-2xx responses:      12\n", "")
        .replace("Failed requests:        3\n   (Connect: 0, Receive: 0, Length: 3, Exceptions: 0)\n", "")
        .replace("Complete requests:      20000\n", "Complete requests:      20000\nFailed requests:        0\n")
    )
    assert (figures["non_2xx"], figures["failed"], figures["failed_length"]) == (0.0, 0.0, 0.0)
    assert figures["complete"] == 20000.0


def test_failures_other_than_length_are_told_apart() -> None:
    broken = REPORT.replace(
        "(Connect: 0, Receive: 0, Length: 3, Exceptions: 0)", "(Connect: 1, Receive: 1, Length: 1, Exceptions: 0)"
    )
    assert (ab_figures(broken)["failed"], ab_figures(broken)["failed_length"]) == (3.0, 1.0)


def test_what_ab_did_not_print_is_none() -> None:
    stopped = (
        "This is ApacheBench, Version 2.3\nBenchmarking localhost (be patient)\napr_socket_recv: Connection reset\n"
    )
    assert ab_figures(stopped) == {
        "calls_per_s": None,
        "complete": None,
        "failed": None,
        "failed_length": 0.0,
        "non_2xx": 0.0,
        "p50_ms": None,
        "p99_ms": None,
    }
    # the "Time per request" lines and the connection times hold other numbers: none is taken for a percentile
    assert ab_figures(REPORT.split("Percentage of")[0])["p50_ms"] is None
