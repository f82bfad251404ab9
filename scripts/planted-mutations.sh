#!/usr/bin/env bash
# Plants one mutation at a time in the Peer's queue, outbox, inbox and backoff logic, and in
# the simulator's pipes, connection teardown, timers and executor, runs the ping-pong campaign
# example (release, 1,000 seeds, nothing else: no unit tests) against each, and prints which
# the campaign caught.
#
#   scripts/planted-mutations.sh                 # every mutation
#   scripts/planted-mutations.sh outbox_no_rewind backoff_never_grows   # chosen ones
#
# The worktree is never modified: the committed tree (HEAD) is exported to a temporary copy,
# each mutation is applied there to a fresh copy of its file, and builds go to their own
# target directory (MUTANTS_TARGET, default $TMPDIR/moonpool-mutants-target, kept between runs
# so that dependencies build once). ITERATIONS (default 1000) and TIMEOUT (seconds per
# campaign, default 600) may be set. A mutation whose pattern no longer matches the code is
# reported as "not applied" (the code moved on: update its pattern).
#
# Verdicts: "caught (...)" when the campaign exits non-zero (the first failure or the
# coverage miss is shown), "hang" when it exceeds TIMEOUT (also caught), "MISSED" when all
# 1,000 seeds pass, "build failed" when the mutant does not compile (not viable).
set -uo pipefail
cd "$(dirname "$0")/.."

ITERATIONS=${ITERATIONS:-1000}
TIMEOUT=${TIMEOUT:-600}
TARGET=${MUTANTS_TARGET:-${TMPDIR:-/tmp}/moonpool-mutants-target}

# name | file | perl substitution (run with -0777, so it may span lines) | what it models
#   [| flags of the example, if the default campaign (every delivery mode in turn) is not
#      the one to run]
MUTATIONS=(
  "queue_full_ignores_held|src/peer/queue.rs|s/self\.messages\.len\(\) \+ held\.messages >= self\.max_messages/self.messages.len() >= self.max_messages/|the queue's limit forgets the messages held in the outbox: the Peer holds more than max_queue_size"
  "queue_drops_newest|src/peer/queue.rs|s/self\.messages\.drain\(\.\.freed\);/let n = self.messages.len(); self.messages.drain(n - freed..);/|DropOldest drops the newest waiting messages instead"
  "queue_drop_count_lost|src/peer/queue.rs|s/Pushed::Queued \{ dropped: freed \}/Pushed::Queued { dropped: 0 }/|overflow drops are not counted in the metrics"
  "queue_pop_keeps_bytes|src/peer/queue.rs|s/(pub fn pop_front.*?\n\s*let message = self\.messages\.pop_front\(\)\?;\n)\s*self\.bytes -= message\.len\(\);\n/\$1/s|a message taken off the queue keeps its bytes counted"
  "outbox_forgets_written_before|src/peer/outbox.rs|s/\s*frame\.written_before \x7c= index < fully_written;\n/\n/|after a broken connection, frames already written are not marked as possibly delivered (re-sent uncounted)"
  "outbox_acks_early|src/peer/outbox.rs|s/if self\.unwritten_start \+ len > self\.written \{/if self.unwritten_start + len > self.written + 1 {/|a frame counts as written one byte before it is"
  "outbox_drops_written|src/peer/outbox.rs|s/let droppable = \x7cframe: &Frame\x7c frame\.is_data\(\) && !frame\.written_before;/let droppable = \x7cframe: \&Frame\x7c frame.is_data();/|the overflow drops a message that may have reached the server instead of one never sent"
  "outbox_clear_uncounted|src/peer/outbox.rs|s/let n = self\.held\.messages;\n\s*\*self = Self::default\(\);/let n = 0;\n        *self = Self::default();/|clearing the outbox reports no message dropped"
  "inbox_reset_loses_buffered|src/peer/inbox.rs|s/\s*self\.kept_bytes \+= kept_cost\(payload\);\n\s*self\.kept\.push_back\(payload\.to_vec\(\)\);\n/\n/|whole messages buffered behind the next one when the connection breaks are dropped"
  "inbox_consume_short|src/peer/inbox.rs|s/(let \(_, consumed\) = self\.ready\.take\(\)\.expect\(\"a decoded message\"\);\n\s*)self\.start \+= consumed;/\$1self.start += consumed.saturating_sub(1);/|consuming a message leaves its last byte in the buffer"
  "inbox_compaction_forgets_ready|src/peer/inbox.rs|s/\s*if let Some\(\(payload, _\)\) = &mut self\.ready \{\n\s*\*payload = payload\.start - self\.start\.\.payload\.end - self\.start;\n\s*\}\n/\n/|compacting the read buffer does not move the decoded message's range"
  "backoff_never_grows|src/peer/backoff.rs|s/let factor = 1u32\.checked_shl\(k - 1\)\.unwrap_or\(u32::MAX\);/let factor = 1u32;/|the reconnect delay never doubles"
  "backoff_no_cap|src/peer/backoff.rs|s/self\.initial\.saturating_mul\(factor\)\.min\(self\.max\)/self.initial.saturating_mul(factor)/|the reconnect delay ignores max_reconnect_delay"
  "backoff_no_delay_after_failure|src/peer/backoff.rs|s/self\.ready_at = self\.last_attempt\.saturating_add\(delay\);/self.ready_at = self.last_attempt;/|a failed attempt is retried at once (a hot reconnect loop)"
  "backoff_always_stable|src/peer/backoff.rs|s/self\.stable_time\.is_zero\(\) \x7c\x7c now\.saturating_sub\(connected_at\) >= self\.stable_time/true/|every connection counts as stable: one dying young resets the delay"
  "backoff_jitter_ignored|src/peer/backoff.rs|s/let factor = 1\.0 - self\.jitter \* draw;/let factor = 1.0 + self.jitter * draw;/|jitter's sign flipped, which the guard against lengthening turns into no jitter at all"
  "backoff_jitter_lengthens|src/peer/backoff.rs|s/let factor = 1\.0 - self\.jitter \* draw;\n(\s*)if factor >= 1\.0 \{/let factor = 1.0 + self.jitter * draw;\n\$1if factor == 1.0 {/|jitter lengthens the delay past the cap instead of shortening it"
  "pipe_read_forgets_writer|src/sim/pipe.rs|s/\s*if n > 0 \{\n\s*wake\(&mut self\.writer\);\n\s*\}\n/\n/|the simulator: a read that frees room in a full pipe does not wake the blocked writer"
  "deliver_forgets_reader|src/sim/net/conn.rs|s/Arrival::Data\(_\) => wake\(&mut end\.rx\.reader\),/Arrival::Data(_) => {}/|the simulator: arriving data does not wake the waiting reader"
  "fin_ignored|src/sim/net/conn.rs|s/end\.fin_received = true;\n(\s*)wake\(&mut end\.rx\.reader\);/wake(&mut end.rx.reader);/|the simulator: an arriving FIN wakes the reader but is not recorded (no end of stream)"
  "rst_lost|src/sim/net/conn.rs|s/Arrival::Rst => self\.take_rst\(conn, to\),/Arrival::Rst => {}/|the simulator: an arriving RST is dropped (the socket stays open, half-open forever)"
  "rst_reads_as_eof|src/sim/net/conn.rs|s/if end\.open \{\n\s*end\.error = Some\(rst_error\(end\.fin_received\)\);\n\s*\}\n(\s*end\.rx\.drop_in_flight)/\$1/|the simulator: an RST reads as a clean end of stream instead of ECONNRESET"
  "rst_wakes_only_reader|src/sim/net/conn.rs|s/(end\.rx\.drop_in_flight\(\);)\n\s*c\.ends\[1 - side\]\.rx\.wake_all\(\);/\$1/|the simulator: an RST does not wake a writer blocked on the dead connection"
  "write_loses_last_byte|src/sim/net/conn.rs|s/self\.transmit\(conn, 1 - side, Segment::Data\(&buf\[\.\.n\]\), extra\);/self.transmit(conn, 1 - side, Segment::Data(\&buf[..n - usize::from(n > 1000)]), extra);/|the simulator: a write of over 1,000 bytes reports every byte sent but loses its last (silent loss on a live connection)"
  "timer_fires_early|src/sim/time.rs|s/s\.now\.saturating_add\(this\.duration\)/s.now.saturating_add(this.duration.saturating_sub(Duration::from_millis(1)))/|the simulator: a sleep completes a millisecond early"
  "executor_time_runs_ahead|src/sim/executor.rs|s/continue;\n(\s*\}\n\s*if root\.is_none\(\) && exec\.tasks\.borrow\(\)\.is_empty\(\))/drop(tasks);\n\$1/|the simulator: after each poll the clock moves to the next event even while other tasks are ready"
)

want=("$@")
selected() {
  [ ${#want[@]} -eq 0 ] && return 0
  local w
  for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/moonpool-mutants.XXXXXX")
trap 'rm -rf "$work"' EXIT
git archive --format=tar HEAD | tar -x -C "$work"
mkdir -p "$TARGET"

# Builds the copy and runs the campaign (with the example flags given, if any); prints the
# verdict.
campaign() {
  local flags=${1:-}
  if ! (cd "$work" && CARGO_TARGET_DIR="$TARGET" nice cargo build --quiet --release \
      --example ping_pong >"$work/build.log" 2>&1); then
    echo "build failed"
    return
  fi
  local out status
  # The campaign as configured: no seed, shard or check override from the environment.
  # (A corrupted reply may put NUL bytes in the output: dropped, keeping the exit status.)
  out=$(cd "$work" && {
    timeout "$TIMEOUT" nice env -u MOONPOOL_SEED -u MOONPOOL_SEEDS \
      -u MOONPOOL_PARTITION -u MOONPOOL_CHECK_DETERMINISM -u MOONPOOL_BRANCH \
      "$TARGET/release/examples/ping_pong" --iterations "$ITERATIONS" $flags 2>/dev/null \
      | tr -d '\000'
    exit "${PIPESTATUS[0]}"
  })
  status=$?
  if [ $status -eq 124 ]; then
    echo "hang (over ${TIMEOUT}s)"
  elif [ $status -eq 0 ]; then
    echo "MISSED"
  else
    local summary first
    summary=$(printf '%s\n' "$out" | grep '^summary' | tail -1)
    first=$(printf '%s\n' "$out" | grep -m1 -E 'failed in |never (true|checked)' \
      | sed -E 's/^ +//; s/panicked at [^ ]+ //; s/ \(seed [0-9]+\)$//' | cut -c1-110)
    failed=$(printf '%s\n' "$summary" | sed -nE 's/.* failed=([0-9]+).*/\1/p')
    echo "caught: ${failed:-?}/$ITERATIONS failed; ${first:-exit $status}"
  fi
}

echo "planted mutations, ping_pong campaign, $ITERATIONS seeds each (release)"
# The unmutated campaign must pass, with every set of flags a selected mutation uses.
flag_sets=("")
for entry in "${MUTATIONS[@]}"; do
  IFS='|' read -r name _ _ _ flags <<<"$entry"
  selected "$name" || continue
  [ -n "$flags" ] && [[ ! " ${flag_sets[*]} " == *" $flags "* ]] && flag_sets+=("$flags")
done
for flags in "${flag_sets[@]}"; do
  baseline=$(campaign "$flags")
  if [ "$baseline" = "MISSED" ]; then
    echo "baseline (no mutation${flags:+, $flags}): passes"
  else
    echo "baseline (no mutation${flags:+, $flags}): $baseline"
    echo "the unmutated campaign does not pass: fix that first" >&2
    exit 2
  fi
done

printf '\n| mutation | file | models | verdict |\n|---|---|---|---|\n'
caught=0
total=0
for entry in "${MUTATIONS[@]}"; do
  IFS='|' read -r name file expr about flags <<<"$entry"
  selected "$name" || continue
  pristine="$work/$file.pristine"
  cp "$work/$file" "$pristine"
  perl -0777 -pi -e "$expr" "$work/$file"
  if cmp -s "$work/$file" "$pristine"; then
    verdict="not applied (pattern no longer matches)"
  else
    verdict=$(campaign "$flags")
    [ -n "$flags" ] && about="$about (\`$flags\`)"
    total=$((total + 1))
    case "$verdict" in caught* | hang*) caught=$((caught + 1)) ;; esac
  fi
  mv "$pristine" "$work/$file"
  printf '| `%s` | %s | %s | %s |\n' "$name" "${file#src/}" "$about" "$verdict"
done
echo
echo "caught $caught of $total applied mutations"
