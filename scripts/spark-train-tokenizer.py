#!/usr/bin/env python3
"""Trains a tokenizer on Apache Spark: each partition of a text dataset is counted by
`verba tokenizer count` on the executors, the counts are merged (`verba tokenizer merge-counts`) and
the tokenizer is trained once on the driver (`verba tokenizer train --from-counts`). The result is the
tokenizer.json that `verba tokenizer train` gives on the whole corpus on one machine.

Arguments after `--` are passed to `verba tokenizer train` (--model, --byte-level, --split,
--vocab-size, --lowercase, --special-tokens, ...); the counting pre-tokenizer follows from them.

Lines are read with Spark's textFile (split at \\n, \\r\\n or \\r; a last line without a newline counts as
one with it), as bytes: invalid UTF-8 reaches verba unchanged.

Examples:
  # on one machine, two cores
  python3 scripts/spark-train-tokenizer.py --master 'local[2]' --verba .build/release/verba \\
      --output tokenizer.json corpus/*.txt -- --model bpe --byte-level --vocab-size 32000
  # on a cluster: the binary is shipped to the executors (or --no-ship for a path every node has)
  spark-submit --master spark://head:7077 --py-files scripts/spark_verba.py \\
      scripts/spark-train-tokenizer.py --verba verba --output wp.json hdfs:///corpora/en/ \\
      -- --model wordpiece --lowercase --vocab-size 30000
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spark_verba  # noqa: E402


def pre_tokenizer(train_args):
    """The `verba tokenizer count` pre-tokenizer that `verba tokenizer train train_args` trains with."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--model", default="bpe")
    p.add_argument("--byte-level", action="store_true")
    p.add_argument("--split", default="gpt2")
    p.add_argument("--lowercase", action="store_true")
    known, _ = p.parse_known_args(train_args)
    if known.model == "wordpiece":
        name = "bert"
    elif known.model == "unigram":
        name = "metaspace"
    elif known.byte_level:
        name = known.split
    else:
        name = "whitespace"
    return ["--pre-tokenizer", name] + (["--lowercase"] if known.lowercase else [])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    ap.add_argument("--verba", required=True, help="the verba binary (on the driver; shipped to executors unless --no-ship)")
    ap.add_argument("--no-ship", action="store_true", help="executors run --verba at the same path (shared file system)")
    ap.add_argument("--partitions", type=int, default=0, help="minimum number of partitions (default: Spark's)")
    ap.add_argument("--count-threads", type=int, default=1, help="threads per counting task")
    ap.add_argument("--keep-counts", help="also keep the merged counts file here")
    ap.add_argument("--output", required=True, help="the tokenizer.json to write")
    ap.add_argument("inputs", nargs="+", help="text files, folders or globs (any Hadoop path)")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args, train_args = ap.parse_args(argv[:cut]), argv[cut + 1:]
    count_args = pre_tokenizer(train_args)

    from pyspark.sql import SparkSession
    builder = SparkSession.builder.appName("verba-train-tokenizer")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    sc.addPyFile(spark_verba.__file__)
    verba = spark_verba.ship(sc, args.verba, shipped=not args.no_ship)
    threads = str(args.count_threads)

    def count(lines):
        argv = [verba.local(), "tokenizer", "count", *count_args, "--threads", threads, "--quiet", "--output", "{out}", "-"]
        yield spark_verba.run_to_file(argv, lines)

    text = sc.textFile(",".join(args.inputs), minPartitions=args.partitions or None, use_unicode=False)
    with tempfile.TemporaryDirectory(prefix="verba-counts-") as folder:
        parts = []
        # One partition's counts at a time reach the driver; each goes to disk before the next.
        for i, blob in enumerate(text.mapPartitions(count).toLocalIterator()):
            path = os.path.join(folder, f"part-{i:05d}.counts")
            with open(path, "wb") as f:
                f.write(blob)
            parts.append(path)
        merged = args.keep_counts or os.path.join(folder, "all.counts")
        subprocess.run([args.verba, "tokenizer", "merge-counts", "--quiet", "--output", merged, *parts], check=True)
        subprocess.run([args.verba, "tokenizer", "train", "--quiet", *train_args, "--from-counts", merged,
                        "--output", args.output], check=True)
    print(f"spark-train-tokenizer: {len(parts)} partitions counted, trained -> {args.output}", file=sys.stderr)
    spark.stop()


if __name__ == "__main__":
    main()
