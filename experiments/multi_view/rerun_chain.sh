#!/bin/bash
# Reduced multi-view rerun: MVSNet seeds 1 and 2, 13-minute training cap each, threads=1, then recon-eval at fusion
# confidence 0.3 of each run's best checkpoint. Runs from a snapshot of the committed code (COMMIT).
cd /tmp/studies/multi_view/code
PY=/work/main/.venv/bin/python
export RECON_CACHE=/tmp/recon_cache OMP_NUM_THREADS=1 PYTHONPATH=/tmp/studies/multi_view/code
LOG=/tmp/studies/multi_view/chain.log
echo "commit $(cat COMMIT)" >> $LOG
for SEED in 1 2; do
  RUN=/tmp/studies/multi_view/mvsnet_seed$SEED
  echo "seed $SEED train start $(date -u +%FT%TZ) | $(uptime)" >> $LOG
  /usr/bin/time -v -o $RUN.time.txt $PY train.py experiment=multi_view_mvsnet seed=$SEED threads=1 \
    trainer.max_time=00:00:13:00 hydra.run.dir=$RUN > $RUN.stdout.txt 2>&1
  echo "seed $SEED train end $(date -u +%FT%TZ) rc=$? | $(uptime)" >> $LOG
  BEST=$($PY -c "import json;print(json.load(open('$RUN/summary.json'))['checkpoints']['best'])")
  echo "seed $SEED eval start $(date -u +%FT%TZ) ckpt=$BEST | $(uptime)" >> $LOG
  /usr/bin/time -v -o $RUN.eval.time.txt $PY -c "import sys; from recon.cli.main import evaluate; sys.argv=['recon-eval']+sys.argv[1:]; evaluate()" \
    ckpt_path=$BEST +task_overrides.fusion_confidence=0.3 +threads=1 hydra.run.dir=$RUN/eval/confidence0.3 \
    > $RUN.eval.stdout.txt 2>&1
  echo "seed $SEED eval end $(date -u +%FT%TZ) rc=$? | $(uptime)" >> $LOG
done
echo "chain done $(date -u +%FT%TZ)" >> $LOG
