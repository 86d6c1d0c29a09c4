#!/usr/bin/env bash
# `make bench`: convert speed and memory beside GDAL's ogr2ogr, fetch throughput, hot paths.
# Inputs are generated into bench-data/ (git-ignored). IMAGES / SEQUENCES override the sizes,
# RUNS the runs of each timed task (the median is reported).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=${IMAGES:-1000000}
SEQUENCES=${SEQUENCES:-100000}
RUNS=${RUNS:-3}
DATA=bench-data
BIN=target/release/mly-export
BENCH=target/release/mly-bench
cargo build --release --locked --bin mly-export --bin mly-bench >&2
mkdir -p "$DATA"
[ -s "$DATA/images-$IMAGES.geojson" ] || "$BENCH" gen-images "$IMAGES" "$DATA/images-$IMAGES.geojson"
[ -s "$DATA/sequences-$SEQUENCES.geojson" ] || "$BENCH" gen-sequences "$SEQUENCES" "$DATA/sequences-$SEQUENCES.geojson"
IMG="$DATA/images-$IMAGES.geojson"
SEQ="$DATA/sequences-$SEQUENCES.geojson"

# measure NAME FEATURES OUT CMD...: removes OUT (a path ending in / comes back empty), then runs
# CMD; $RUNS times. Prints
# "NAME|FEATURES|median seconds|largest max_rss_kb". This machine's timings vary from run to
# run (by a quarter for the same work); the median of each side is what the ratios compare.
measure() {
  local name=$1 features=$2 out=$3; shift 3
  local times=() peak=0 secs rss
  for _ in $(seq "$RUNS"); do
    rm -rf "$out"
    [[ "$out" == */ ]] && mkdir -p "$out"
    # The previous task's outputs are still being written back: not this task's time.
    sync
    if ! /usr/bin/time -f '%e %M' -o /tmp/mly-bench-time "$@" >/dev/null 2>/tmp/mly-bench-err; then
      echo "warning: '$*' failed:" >&2; tail -5 /tmp/mly-bench-err >&2
    fi
    read -r secs rss < /tmp/mly-bench-time
    times+=("$secs")
    (( rss > peak )) && peak=$rss
  done
  secs=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  echo "$name|$features|$secs|$peak"
}
[ -x /usr/bin/time ] || { echo "make bench needs GNU time: apt-get install time" >&2; exit 2; }

rows=()
size_kb=$(( $(stat -c %s "$IMG") / 1024 ))
for fmt in shapefile geojson gpx csv gpkg; do
  rows+=("$(measure "convert $IMAGES images -> $fmt" "$IMAGES" "$DATA/out-$fmt" "$BIN" -q convert "$IMG" --out "$DATA/out-$fmt" --formats "$fmt")")
done
rows+=("$(measure "convert $IMAGES images -> all four" "$IMAGES" "$DATA/out-all" "$BIN" -q convert "$IMG" --out "$DATA/out-all")")
rows+=("$(measure "convert $SEQUENCES sequences -> all four" "$SEQUENCES" "$DATA/out-seq" "$BIN" -q convert "$SEQ" --out "$DATA/out-seq")|$SEQ")
ogr_secs=""
ogr_gpkg_secs=""
if command -v ogr2ogr >/dev/null; then
  r=$(measure "ogr2ogr $IMAGES images -> shapefile" "$IMAGES" "$DATA/ogr-shp/" ogr2ogr -f "ESRI Shapefile" -lco ENCODING=UTF-8 "$DATA/ogr-shp/images.shp" "$IMG")
  rows+=("$r"); ogr_secs=$(echo "$r" | cut -d'|' -f3)
  rows+=("$(measure "ogr2ogr $IMAGES images -> csv" "$IMAGES" "$DATA/ogr.csv" ogr2ogr -f CSV "$DATA/ogr.csv" "$IMG")")
  r=$(measure "ogr2ogr $IMAGES images -> gpkg" "$IMAGES" "$DATA/ogr.gpkg" ogr2ogr -f GPKG "$DATA/ogr.gpkg" "$IMG")
  rows+=("$r"); ogr_gpkg_secs=$(echo "$r" | cut -d'|' -f3)
else
  echo "ogr2ogr not installed: no GDAL comparison (apt-get install gdal-bin)" >&2
fi

printf '\ninput: %s (%d MB), %s; wall s is the median of %d runs, max RSS the largest\n\n' \
  "$IMG" $((size_kb / 1024)) "$(nproc) cores" "$RUNS"
printf '%-44s %10s %10s %14s %12s %10s\n' "task" "wall s" "feat/s" "max RSS MB" "RSS/input" "ogr2ogr shp / this"
for r in "${rows[@]}"; do
  IFS='|' read -r name feats secs rss input <<<"$r"
  in_kb=$(( $(stat -c %s "${input:-$IMG}") / 1024 ))
  fps=$(awk -v f="$feats" -v s="$secs" 'BEGIN{ if (s>0) printf "%.0f", f/s; else print "-" }')
  rssmb=$(( rss / 1024 ))
  ratio=$(awk -v r="$rss" -v i="$in_kb" 'BEGIN{ printf "%.2f", r/i }')
  vs="-"
  # Only the image rows share ogr2ogr's input.
  if [ -n "$ogr_secs" ] && [[ "$name" == *" images "* ]]; then vs=$(awk -v o="$ogr_secs" -v s="$secs" 'BEGIN{ if (s>0) printf "%.1fx", o/s; else print "-" }'); fi
  printf '%-44s %10s %10s %14s %12s %10s\n' "$name" "$secs" "$fps" "$rssmb" "$ratio" "$vs"
done
if [ -n "$ogr_gpkg_secs" ]; then
  ours=$(printf '%s\n' "${rows[@]}" | awk -F'|' '$1 ~ / images -> gpkg$/ && $1 ~ /^convert/ { print $3 }')
  awk -v o="$ogr_gpkg_secs" -v s="$ours" 'BEGIN{ printf "\nGeoPackage: ogr2ogr -f GPKG %s s, convert --formats gpkg %s s: %.1fx faster\n", o, s, (s>0 ? o/s : 0) }'
fi

# Shapefile and GeoPackage against ogr2ogr at each of RATIO_SIZES, both sides in this run, one
# after the other at each size (median of $RUNS).
if [ -n "$ogr_secs" ]; then
  for fmt in shapefile gpkg; do
    printf '\n%s, this vs ogr2ogr on the same input (median of %d runs)\n' "$fmt" "$RUNS"
    printf '%10s %12s %12s %10s\n' images "ogr2ogr s" "this s" ratio
    for n in ${RATIO_SIZES:-400000 $IMAGES}; do
      f="$DATA/images-$n.geojson"; [ -s "$f" ] || "$BENCH" gen-images "$n" "$f"
      if [ "$fmt" = gpkg ]; then
        ogr=$(measure ogr "$n" "$DATA/ogr.gpkg" ogr2ogr -f GPKG "$DATA/ogr.gpkg" "$f" | cut -d'|' -f3)
      else
        ogr=$(measure ogr "$n" "$DATA/ogr-shp/" ogr2ogr -f "ESRI Shapefile" -lco ENCODING=UTF-8 "$DATA/ogr-shp/images.shp" "$f" | cut -d'|' -f3)
      fi
      ours=$(measure ours "$n" "$DATA/out-$fmt" "$BIN" -q convert "$f" --out "$DATA/out-$fmt" --formats "$fmt" | cut -d'|' -f3)
      printf '%10s %12s %12s %10s\n' "$n" "$ogr" "$ours" "$(awk -v o="$ogr" -v s="$ours" 'BEGIN{ printf "%.1fx", o/s }')"
    done
  done
fi

# Peak memory by input size: what a feature costs above the one-feature baseline is the
# per-key state (the dedupe set), which must stay small for country-sized inputs. Each size
# shows bytes per feature two ways: above the one-feature run, and above the previous size
# (the growth alone, without the fixed buffers that fill once data flows).
printf '\npeak RSS by input size (largest of %d runs); bytes/feature: above the first size | above the previous size\n' "$RUNS"
printf '%10s %12s %16s %12s %16s %12s %16s\n' images "shapefile MB" "bytes/feature" "gpkg MB" "bytes/feature" "all four MB" "bytes/feature"
base_n="" prev_n=""
declare -A base prev
for n in ${MEM_SIZES:-1 100000 1000000 4000000}; do
  f="$DATA/images-$n.geojson"; [ -s "$f" ] || "$BENCH" gen-images "$n" "$f"
  declare -A rss
  rss[shp]=$(measure shp "$n" "$DATA/mem-shp" "$BIN" -q convert "$f" --out "$DATA/mem-shp" --formats shapefile | cut -d'|' -f4)
  rss[gpkg]=$(measure gpkg "$n" "$DATA/mem-gpkg" "$BIN" -q convert "$f" --out "$DATA/mem-gpkg" --formats gpkg | cut -d'|' -f4)
  rss[all]=$(measure all "$n" "$DATA/mem-all" "$BIN" -q convert "$f" --out "$DATA/mem-all" | cut -d'|' -f4)
  line=$(printf '%10s' "$n")
  for k in shp gpkg all; do
    per=$(awk -v r="${rss[$k]}" -v b="${base[$k]:-}" -v bn="${base_n:-0}" -v p="${prev[$k]:-}" -v pn="${prev_n:-0}" -v n="$n" 'BEGIN{
      if (b == "") { print "-"; exit }
      printf "%.1f | %s", (r - b) * 1024 / (n - bn), (pn == bn ? "-" : sprintf("%.1f", (r - p) * 1024 / (n - pn))) }')
    line+=$(printf ' %12.1f %16s' "$(awk -v r="${rss[$k]}" 'BEGIN{print r/1024}')" "$per")
    base[$k]=${base[$k]:-${rss[$k]}}; prev[$k]=${rss[$k]}
  done
  base_n=${base_n:-$n}; prev_n=$n
  echo "$line"
done

# Requests per 1,000 exported images against the mock's dense world (60,000 images), v3 and
# v4, v4 with whole sequences and with sequences from the images in the areas.
echo
mock_log=$(mktemp)
"$BIN" mock-api --world dense --port 0 2>"$mock_log" &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q 'listening on' "$mock_log" && break; sleep 0.1; done
mock_url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$mock_log" | head -1)
manifests=()
for job in bench/jobs/dense-*.toml; do
  name=$(basename "$job" .toml)
  url=$mock_url; [[ "$name" == dense-v3 ]] && url="$mock_url/v3"
  rm -rf "$DATA/fetch/$name"
  MAPILLARY_CLIENT_ID=mock-client-id MAPILLARY_ACCESS_TOKEN='MLY|mock|token' \
    "$BIN" -q run "$job" --api-url "$url" --out "$DATA/fetch" --fresh >/dev/null
  manifests+=("$DATA/fetch/$name/manifest.json")
done
kill $mock_pid 2>/dev/null; trap - EXIT
"$BENCH" requests "${manifests[@]}"

echo
"$BENCH" fetch-throughput --latency-ms 50 --concurrency 1,4,8,16,32,64
echo
"$BENCH" hot
