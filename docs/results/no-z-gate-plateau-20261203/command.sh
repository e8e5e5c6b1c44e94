for s in 0 1 2; do
  .venv/bin/smolmamba train model=smolmamba_tiny model.z_gate=false dataset=digits epochs=15 batch_size=32 lr=0.01 seed=$s \
    augment=false val_fraction=0.15 patience=5 eval_every=1 warmup_epochs=0.5 tensorboard=false output=results/nozg-seed$s
done
echo done $(date)
