import sys, time, torch
sys.path.insert(0, sys.argv[1])
from smolmamba.bench.cases import Case, build_step
from smolmamba.runtime import tune_cpu_allocator; tune_cpu_allocator(); torch.set_num_threads(2)
out = []
for model in sys.argv[3].split(","):
    step = build_step(Case(model, 32, mode="train", variant=sys.argv[2]))
    for _ in range(2): step()
    ts = []
    for _ in range(int(sys.argv[4])):
        t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
    out.append(f"{model}={sorted(ts)[len(ts)//2]*1e3:.1f}")
print(" ".join(out))
