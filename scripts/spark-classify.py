#!/usr/bin/env python3
"""Classifies or embeds the lines of a text dataset on Apache Spark with `verba classify` or
`verba embed`: each partition is piped through one verba process (one model load per partition) and
every output line is joined to its input row.

Output (a folder of part files, as Spark's saveAsTextFile writes them, or one local file with
--single-file): with classify, TEXT<TAB>LABEL<TAB>SCORE per row (verba's tsv format); with embed, one JSON
object per row, {"text": ..., "embedding": [...]}.

Arguments after `--` are passed to verba (e.g. --labels a,b,c, --max-length 128, --batch-size 32).

Examples:
  python3 scripts/spark-classify.py --master 'local[2]' --verba .build/release/verba \\
      --model downloads/minilm --output out/ sentences.txt -- --labels sports,cooking,politics
  spark-submit --master yarn --py-files scripts/spark_verba.py scripts/spark-classify.py \\
      --command embed --verba verba --model minilm --output hdfs:///vectors/ hdfs:///sentences/
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spark_verba  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    ap.add_argument("--command", choices=["classify", "embed"], default="classify")
    ap.add_argument("--verba", required=True, help="the verba binary (shipped to executors unless --no-ship)")
    ap.add_argument("--model", required=True, help="the model folder (shipped to executors unless --no-ship)")
    ap.add_argument("--no-ship", action="store_true", help="executors use --verba and --model at the same paths (shared file system)")
    ap.add_argument("--threads", type=int, default=1, help="verba threads per task")
    ap.add_argument("--partitions", type=int, default=0, help="minimum number of partitions")
    ap.add_argument("--single-file", action="store_true", help="write --output as one local file (rows in input order)")
    ap.add_argument("--output", required=True)
    ap.add_argument("inputs", nargs="+", help="text files, folders or globs (any Hadoop path)")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args, extra = ap.parse_args(argv[:cut]), argv[cut + 1:]

    from pyspark.sql import SparkSession
    builder = SparkSession.builder.appName(f"verba-{args.command}")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    sc.addPyFile(spark_verba.__file__)
    verba = spark_verba.ship(sc, args.verba, shipped=not args.no_ship)
    model = spark_verba.ship(sc, args.model, shipped=not args.no_ship)
    command, threads = args.command, str(args.threads)

    def run(lines):
        argv = [verba.local(), command, "--model", model.local(), "--threads", threads, *extra]
        for text, out in spark_verba.pipe_lines(argv, lines):
            if command == "classify":
                yield f"{text}\t{out}"
            else:
                yield json.dumps({"text": text, "embedding": json.loads(out)}, ensure_ascii=False)

    rows = sc.textFile(",".join(args.inputs), minPartitions=args.partitions or None).mapPartitions(run)
    if args.single_file:
        tmp = args.output + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows.toLocalIterator():
                f.write(row + "\n")
        os.replace(tmp, args.output)
    else:
        rows.saveAsTextFile(args.output)
    spark.stop()


if __name__ == "__main__":
    main()
