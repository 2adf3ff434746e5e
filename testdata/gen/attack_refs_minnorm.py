"""Reference figures in plain PyTorch for advtest's boundary and L1 attacks
(issue #14): FAB / FAB-T, L1-APGD, EAD and FMN.

Each attack is written here from its paper (and the authors' published
defaults), independently of advtest's Go code, and run on the committed
models (weights read from testdata/models/*.onnx into their PyTorch twins,
see common.load_from_onnx) over the first shipped MNIST test samples in
pixel space [0, 1]:

  FAB (Croce & Hein, ICML 2020, Alg. 1; AutoAttack's fab_base defaults:
      n_iter 100, alpha_max 0.1, eta 1.05, beta 0.9, 1 restart from x):
      untargeted Linf / L2 / L1 minimal norms (median over successes), and
      FAB-T (9 runner-up target classes, success = misclassification) SR
      within a Linf eps
  L1-APGD (Croce & Hein, ICML 2021, "Mind the box", as AutoAttack's
      attack_single_run for L1, cross-entropy, 100 iterations, 1 restart):
      SR within an L1 eps
  EAD (Chen et al., AAAI 2018, Alg. 1, ART's defaults: beta 1e-3, lr 1e-2
      with sqrt decay, 9 binary search steps from c 1e-3, 100 FISTA
      iterations, EN decision rule): SR, median L1 and L2 of successes
  FMN (Pintor et al., NeurIPS 2021, Alg. 1, the reference code's update
      with 100 steps, alpha 1 -> 0.01, gamma 0.05 -> 0.001): median L0, L1,
      L2, Linf norms of successes

SR = fooled / clean-correct. Writes testdata/reference/attacks_minnorm.json
(figures, parameters, seeds); pkg/attack/reference_minnorm_test.go pins
advtest's attacks against it.

Usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 testdata/gen/attack_refs_minnorm.py [MODEL...]
(with model names, only those are recomputed and merged into the existing
file; TORCH_THREADS sets torch's thread count, default 2). On a loaded
2-core machine the MLP takes ~20 min and the CNN ~30 min.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import json
import math
import sys
import time

import torch
import torch.nn.functional as F

import common

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
SEED = 0

# (model, number of samples, figures)
PLAN = {
    "mnist_mlp": {"n": 100, "fab_t_linf_eps": 0.05, "apgd_l1_eps": [3.0, 6.0],
                  "fab_norms": ["inf", "2", "1"], "ead": True, "fmn_norms": ["0", "1", "2", "inf"]},
    "mnist_cnn": {"n": 50, "fab_t_linf_eps": 0.15, "apgd_l1_eps": [6.0],
                  "fab_norms": [], "ead": False, "fmn_norms": ["2"]},
}


def flat(t):
    return t.reshape(t.shape[0], -1)


def norm_of(d, p):
    d = flat(d).double()
    if p == "inf":
        return d.abs().amax(1)
    if p == "2":
        return d.norm(dim=1)
    if p == "1":
        return d.abs().sum(1)
    return (d != 0).sum(1).double()


def dual_norm(g, p):
    g = flat(g).double()
    if p == "inf":
        return g.abs().sum(1)
    if p == "2":
        return g.norm(dim=1)
    return g.abs().amax(1)


# ---------------------------------------------------------------- FAB

def hyperplane_step(p, w, c, norm):
    """Minimal-norm delta with <w, delta> = c and 0 <= p + delta <= 1
    (paper Sec. 3.1); when unreachable every useful element goes to the box.
    p, w: [B, D] float64; c: [B]."""
    sc = torch.where(c < 0, -torch.ones_like(c), torch.ones_like(c)).double().unsqueeze(1)
    target = c.abs().unsqueeze(1)
    direction = sc * torch.sign(w)
    room = torch.where(direction > 0, 1 - p, p)
    aw = w.abs()
    useful = (aw > 0) & (room > 0)
    aw = torch.where(useful, aw, torch.zeros_like(aw))
    room = torch.where(useful, room, torch.zeros_like(room))
    big = torch.full_like(aw, float("inf"))
    if norm == "inf":
        key = torch.where(useful, room, big)
    elif norm == "2":
        key = torch.where(useful, room / aw.clamp_min(1e-300), big)
    else:
        key = torch.where(useful, -aw, big)
    order = key.argsort(dim=1)
    aw_s, room_s, key_s = aw.gather(1, order), room.gather(1, order), key.gather(1, order)
    full = aw_s * room_s
    sat_excl = full.cumsum(1) - full
    delta_s = torch.zeros_like(aw_s)
    if norm in ("inf", "2"):
        wt = aw_s if norm == "inf" else aw_s ** 2
        free_incl = wt.sum(1, keepdim=True) - (wt.cumsum(1) - wt)
        g = sat_excl + free_incl * torch.where(torch.isinf(key_s), torch.zeros_like(key_s), key_s)
        ok = (g >= target) & torch.isfinite(key_s)
        has = ok.any(1, keepdim=True)
        k = torch.where(has, ok.float().argmax(1, keepdim=True), torch.zeros_like(has, dtype=torch.long))
        t = (target - sat_excl.gather(1, k)) / free_incl.gather(1, k).clamp_min(1e-300)
        t = torch.where(has, t, torch.full_like(t, float("inf")))
        if norm == "inf":
            delta_s = torch.minimum(t.expand_as(room_s), room_s)
        else:
            delta_s = torch.minimum(t * aw_s, room_s)
    else:
        cum_incl = full.cumsum(1)
        rest = (target - sat_excl).clamp_min(0)
        delta_s = torch.minimum(room_s, rest / aw_s.clamp_min(1e-300))
        delta_s = torch.where(aw_s > 0, delta_s, torch.zeros_like(delta_s))
        _ = cum_incl
    delta_s = torch.where(useful.gather(1, order), delta_s, torch.zeros_like(delta_s))
    delta = torch.zeros_like(delta_s).scatter(1, order, delta_s)
    return delta * direction


def fab(model, x, y, norm, eps, targets=None, n_iter=100, alpha_max=0.1, eta=1.05, beta=0.9, early_eps=None):
    """One FAB run from x (no random start). Returns (best adversarial point,
    its distance, inf where none was found). With targets, the hyperplane of
    the target class is used (FAB-T); success is misclassification.
    early_eps: drop a sample once a point within it is found (SR-only)."""
    B = x.shape[0]
    x0 = flat(x).double()
    cur = x0.clone()
    best = x0.clone()
    res = torch.full((B,), float("inf"), dtype=torch.float64)
    C = None
    active = torch.ones(B, dtype=torch.bool)
    for _ in range(n_iter):
        idx = active.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        xa = cur[idx].float().view(-1, *x.shape[1:]).requires_grad_(True)
        logits = model(xa)
        C = logits.shape[1]
        yi = y[idx]
        rows = torch.arange(len(idx))
        if targets is None:
            grads = torch.stack([torch.autograd.grad(logits[:, k].sum(), xa, retain_graph=True)[0]
                                 for k in range(C)], 1).reshape(len(idx), C, -1).double()
            lg = logits.detach().double()
            df = lg - lg[rows, yi].unsqueeze(1)
            dg = grads - grads[rows, yi].unsqueeze(1)
            dist = df.abs() / (1e-12 + dual_norm(dg.reshape(-1, dg.shape[2]), norm).view(len(idx), C))
            dist[rows, yi] = float("inf")
            s = dist.argmin(1)
            dfs, w = df[rows, s], dg[rows, s]
        else:
            ti = targets[idx]
            obj = (logits[rows, ti] - logits[rows, yi]).sum()
            w = torch.autograd.grad(obj, xa)[0].reshape(len(idx), -1).double()
            lg = logits.detach().double()
            dfs = lg[rows, ti] - lg[rows, yi]
        ci, xi = cur[idx], x0[idx]
        c1 = -dfs
        c2 = -dfs + (w * (ci - xi)).sum(1)
        d1 = hyperplane_step(ci, w, c1, norm)
        d2 = hyperplane_step(xi, w, c2, norm)
        a1 = norm_of(d1, norm).clamp_min(1e-8)
        a2 = norm_of(d2, norm).clamp_min(1e-8)
        alpha = (a1 / (a1 + a2)).clamp(0, alpha_max).unsqueeze(1)
        new = ((ci + eta * d1) * (1 - alpha) + (xi + eta * d2) * alpha).clamp(0, 1)
        new = new.float().double()  # the point is stored in float32, as advtest does
        with torch.no_grad():
            pred = model(new.float().view(-1, *x.shape[1:])).argmax(1)
        adv = pred != yi
        t = norm_of(new - xi, norm)
        better = adv & (t < res[idx])
        res[idx[better]] = t[better]
        best[idx[better]] = new[better]
        new[adv] = (xi[adv] + beta * (new[adv] - xi[adv])).float().double()
        cur[idx] = new
        if early_eps is not None:
            active[idx[res[idx] <= early_eps]] = False
    return best.float().view_as(x), res


def fab_t_sr(model, x, y, eps, n_targets=9):
    """FAB-T as in AutoAttack: for the classes ranked 2nd..10th by the clean
    logits, one run each on the samples not yet fooled within eps."""
    with torch.no_grad():
        order = model(x).argsort(1, descending=True)
    fooled = torch.zeros(len(x), dtype=torch.bool)
    for r in range(1, min(n_targets, order.shape[1] - 1) + 1):
        idx = (~fooled).nonzero().squeeze(1)
        if len(idx) == 0:
            break
        _, res = fab(model, x[idx], y[idx], "inf", eps, targets=order[idx, r], early_eps=eps)
        fooled[idx[res <= eps]] = True
    return fooled


# ---------------------------------------------------------------- L1 projection and L1-APGD

def project_l1_box(x0, p, eps):
    """Euclidean projection of p onto {||q - x0||_1 <= eps} ∩ [0,1]^D:
    q = x0 + sign(z) min(max(|z| - lam, 0), cap), bisection on lam. float64."""
    z = p - x0
    cap = torch.where(z >= 0, 1 - x0, x0)
    a = z.abs()

    def total(lam):
        return torch.minimum((a - lam.unsqueeze(1)).clamp_min(0), cap).sum(1)

    lo = torch.zeros(p.shape[0], dtype=torch.float64)
    hi = a.amax(1)
    need = total(lo) > eps
    for _ in range(100):
        mid = (lo + hi) / 2
        over = total(mid) > eps
        lo = torch.where(over, mid, lo)
        hi = torch.where(over, hi, mid)
    lam = torch.where(need, hi, torch.zeros_like(hi))
    q = x0 + torch.sign(z) * torch.minimum((a - lam.unsqueeze(1)).clamp_min(0), cap)
    return q.clamp(0, 1)


def apgd_l1(model, x, y, eps, gen, n_iter=100):
    """L1-APGD on the cross-entropy (Mind the box, Alg. 2, as AutoAttack's
    attack_single_run for L1): sparse sign step on the top-k gradient
    elements, k adapted at checkpoints every max(0.04 N, 1) iterations.
    Returns the fooled mask (any iterate misclassified)."""
    B = x.shape[0]
    D = x[0].numel()
    x0 = flat(x).double()
    cur = project_l1_box(x0, x0 + torch.randn(x0.shape, generator=gen, dtype=torch.float64), eps)
    cur = cur.float().double()

    def grad_loss(q):
        xa = q.float().view_as(x).requires_grad_(True)
        logits = model(xa)
        loss = F.cross_entropy(logits, y, reduction="none")
        g = torch.autograd.grad(loss.sum(), xa)[0]
        return flat(g).double(), loss.detach().double(), logits.argmax(1) != y

    g, loss, adv = grad_loss(cur)
    fooled = adv.clone()
    best, g_best, loss_best = cur.clone(), g.clone(), loss.clone()
    step = torch.full((B,), eps, dtype=torch.float64)
    topk = torch.full((B,), 0.2, dtype=torch.float64)
    sp_old = torch.full((B,), float(D), dtype=torch.float64)
    k = max(int(0.04 * n_iter), 1)
    counter = 0
    for _ in range(n_iter):
        mag = g.abs().float()  # the threshold compares float32 magnitudes, as advtest does
        srt = mag.sort(1)[0]
        pos = ((1 - topk) * D).long().clamp(0, D - 1)
        thr = srt.gather(1, pos.unsqueeze(1))
        sel = (mag >= thr) & (g != 0)
        nnz = sel.sum(1).double()
        cur = cur + (step / (nnz + 1e-10)).unsqueeze(1) * torch.sign(g) * sel
        cur = project_l1_box(x0, cur.float().double(), eps).float().double()
        g, loss, adv = grad_loss(cur)
        fooled |= adv
        imp = loss > loss_best
        best[imp], g_best[imp], loss_best[imp] = cur[imp], g[imp], loss[imp]
        counter += 1
        if counter == k:
            sp = ((best - x0) != 0).sum(1).double()
            red = (sp_old > 0) & (sp / sp_old.clamp_min(1e-300) < 0.95)
            topk = sp / D / 1.5
            step = torch.where(red, torch.full_like(step, eps), step / 1.5)
            step = step.clamp(eps / 10, eps)
            sp_old = sp
            cur[red], g[red] = best[red], g_best[red]
            counter = 0
    return fooled


# ---------------------------------------------------------------- EAD

def ead(model, x, y, beta=1e-3, lr=1e-2, binary_steps=9, max_iter=100, c0=1e-3, kappa=0.0):
    B = x.shape[0]
    x0 = flat(x).double()
    best = x0.clone()
    best_dist = torch.full((B,), float("inf"), dtype=torch.float64)
    c = torch.full((B,), c0, dtype=torch.float64)
    lower = torch.zeros(B, dtype=torch.float64)
    upper = torch.full((B,), 1e10, dtype=torch.float64)
    rows = torch.arange(B)

    def margin(logits):
        other = logits.clone()
        other[rows, y] = -float("inf")
        return logits[rows, y] - other.amax(1)

    for _ in range(binary_steps):
        xk = x0.clone()
        yk = x0.clone()
        ok_run = torch.zeros(B, dtype=torch.bool)
        for it in range(max_iter):
            a = lr * math.sqrt(1 - it / max_iter)
            ya = yk.float().view_as(x).requires_grad_(True)
            f = margin(model(ya)).clamp_min(-kappa)
            gf = flat(torch.autograd.grad((f * c.float()).sum(), ya)[0]).double()
            z = yk - a * (gf + 2 * (yk - x0))
            nx = torch.where(z - x0 > beta, (z - beta).clamp(max=1.0),
                             torch.where(z - x0 < -beta, (z + beta).clamp(min=0.0), x0))
            ny = (nx + it / (it + 3) * (nx - xk)).clamp(0, 1)
            xk, yk = nx.float().double(), ny.float().double()
            with torch.no_grad():
                lg = model(xk.float().view_as(x))
            ok = (margin(lg) <= -kappa) & (lg.argmax(1) != y)
            ok_run |= ok
            d = xk - x0
            dist = (d ** 2).sum(1) + beta * d.abs().sum(1)
            better = ok & (dist < best_dist)
            best_dist[better] = dist[better]
            best[better] = xk[better]
        upper = torch.where(ok_run, torch.minimum(upper, c), upper)
        lower = torch.where(ok_run, lower, torch.maximum(lower, c))
        c = torch.where(upper < 1e9, (lower + upper) / 2, c * 10)
    return best.float().view_as(x), torch.isfinite(best_dist)


# ---------------------------------------------------------------- FMN

def fmn(model, x, y, norm, steps=100, alpha_init=1.0, gamma_init=0.05, gamma_final=0.001):
    B = x.shape[0]
    alpha_final = alpha_init / 100
    x0 = flat(x).double()
    cur = x0.clone()
    worst = norm_of(torch.maximum(x0, 1 - x0), norm)
    best_norm = worst.clone()
    best = x0.clone()
    found = torch.zeros(B, dtype=torch.bool)
    eps = torch.ones(B, dtype=torch.float64) if norm == "0" else torch.full((B,), float("inf"), dtype=torch.float64)
    rows = torch.arange(B)
    for i in range(steps):
        cosine = (1 + math.cos(math.pi * i / steps)) / 2
        alpha = alpha_final + (alpha_init - alpha_final) * cosine
        gamma = gamma_final + (gamma_init - gamma_final) * cosine
        delta = cur - x0
        dn = norm_of(delta, norm)
        xa = cur.float().view_as(x).requires_grad_(True)
        logits = model(xa)
        other = logits.clone()
        other[rows, y] = -float("inf")
        L = logits[rows, y] - other.amax(1)
        g = flat(torch.autograd.grad(L.sum(), xa)[0]).double()
        adv = logits.argmax(1) != y
        both = adv & (dn < best_norm)
        best_norm[both] = dn[both]
        best[both] = cur[both]
        found |= adv
        if norm == "0":
            eps = torch.where(adv, torch.minimum(torch.minimum(eps - 1, torch.floor(eps * (1 - gamma))), best_norm),
                              torch.maximum(eps + 1, torch.floor(eps * (1 + gamma)))).clamp_min(0)
        else:
            dist = L.detach().double().abs() / dual_norm(g, norm).clamp_min(1e-12)
            eps = torch.where(adv, torch.minimum(eps * (1 - gamma), best_norm),
                              torch.where(found, eps * (1 + gamma), dn + dist))
        eps = torch.minimum(eps, worst)
        delta = delta - alpha * g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
        e = eps.unsqueeze(1)
        if norm == "inf":
            delta = torch.maximum(torch.minimum(delta, e), -e)
        elif norm == "2":
            n = delta.norm(dim=1, keepdim=True)
            delta = torch.where(n > e, delta * e / n.clamp_min(1e-300), delta)
        elif norm == "1":
            a = delta.abs()
            srt = a.sort(1, descending=True)[0]
            cs = srt.cumsum(1)
            ks = torch.arange(1, a.shape[1] + 1, dtype=torch.float64)
            nxt = torch.cat([srt[:, 1:], torch.zeros(B, 1, dtype=torch.float64)], 1)
            ok = cs - ks * nxt >= e
            k = ok.float().argmax(1, keepdim=True)
            lam = (cs.gather(1, k) - e) / (k + 1).double()
            lam = torch.where((a.sum(1, keepdim=True) > e) & ok.any(1, keepdim=True), lam, torch.zeros_like(lam))
            delta = torch.sign(delta) * (a - lam).clamp_min(0)
        else:
            kk = eps.long().clamp(0, delta.shape[1])
            order = delta.abs().sort(dim=1, descending=True, stable=True)[1]
            keep = torch.arange(delta.shape[1]).unsqueeze(0) < kk.unsqueeze(1)
            mask = torch.zeros_like(keep).scatter(1, order, keep)
            delta = torch.where(mask, delta, torch.zeros_like(delta))
        cur = (x0 + delta).float().double().clamp(0, 1)
    ok = best_norm < worst
    return best.float().view_as(x), ok


# ---------------------------------------------------------------- driver

def median(v):
    v = sorted(float(t) for t in v)
    if not v:
        return None
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2


def main():
    only = sys.argv[1:]
    x_all, y_all = common.load_shipped_mnist()
    doc = {
        "description": "Reference figures for FAB, FAB-T, L1-APGD, EAD and FMN in plain PyTorch "
                       "(see testdata/gen/attack_refs_minnorm.py)",
        "data": "testdata/mnist/test-1000-images.npy first n samples, /255 -> float32 [0,1]",
        "definitions": {
            "sr": "fooled / clean-correct",
            "median_*": "median norm of the perturbation over the fooled clean-correct samples",
        },
        "torch_version": torch.__version__,
        "seed": SEED,
        "models": {},
    }
    for name, plan in PLAN.items():
        if only and name not in only:
            continue
        n = plan["n"]
        x, y = torch.from_numpy(x_all[:n]), torch.from_numpy(y_all[:n])
        model = common.load_from_onnx(name, os.path.join(common.MODELS_DIR, name + ".onnx"))
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            ok = model(x).argmax(1) == y
        xs, ys = x[ok], y[ok]
        nok = int(ok.sum())
        mdoc = {"onnx": f"testdata/models/{name}.onnx", "n": n, "n_clean_correct": nok, "attacks": []}

        def add(entry):
            mdoc["attacks"].append(entry)
            print(name, json.dumps(entry), flush=True)

        t0 = time.time()
        eps = plan["fab_t_linf_eps"]
        fooled = fab_t_sr(model, xs, ys, eps)
        add({"attack": "fab-t", "params": {"norm": "linf", "eps": eps, "n_targets": 9, "steps": 100},
             "sr": float(fooled.float().mean())})
        print(f"  [{time.time() - t0:.0f} s]", flush=True)
        for norm in plan["fab_norms"]:
            t0 = time.time()
            adv, res = fab(model, xs, ys, norm, 1e10)
            succ = torch.isfinite(res)
            nm = {"inf": "linf", "2": "l2", "1": "l1"}[norm]
            add({"attack": "fab", "params": {"norm": nm, "steps": 100, "eps": "unbounded"},
                 "sr": float(succ.float().mean()), f"median_{nm}": median(res[succ])})
            print(f"  [{time.time() - t0:.0f} s]", flush=True)
        for e in plan["apgd_l1_eps"]:
            t0 = time.time()
            gen = torch.Generator().manual_seed(SEED)
            fooled = apgd_l1(model, xs, ys, e, gen)
            add({"attack": "apgd-ce", "params": {"norm": "l1", "eps": e, "steps": 100, "restarts": 1},
                 "sr": float(fooled.float().mean())})
            print(f"  [{time.time() - t0:.0f} s]", flush=True)
        if plan["ead"]:
            t0 = time.time()
            adv, succ = ead(model, xs, ys)
            with torch.no_grad():
                succ &= model(adv).argmax(1) != ys
            d = adv - xs
            add({"attack": "ead", "params": {"beta": 1e-3, "lr": 1e-2, "binary_steps": 9, "max_iter": 100,
                                             "initial_const": 1e-3, "decision_rule": "en"},
                 "sr": float(succ.float().mean()), "median_l1": median(norm_of(d, "1")[succ]),
                 "median_l2": median(norm_of(d, "2")[succ])})
            print(f"  [{time.time() - t0:.0f} s]", flush=True)
        for norm in plan["fmn_norms"]:
            t0 = time.time()
            adv, succ = fmn(model, xs, ys, norm)
            with torch.no_grad():
                succ &= model(adv).argmax(1) != ys
            nm = {"inf": "linf", "2": "l2", "1": "l1", "0": "l0"}[norm]
            add({"attack": "fmn", "params": {"norm": nm, "steps": 100, "alpha_init": 1.0, "gamma_init": 0.05,
                                             "gamma_final": 0.001},
                 "sr": float(succ.float().mean()), f"median_{nm}": median(norm_of(adv - xs, norm)[succ])})
            print(f"  [{time.time() - t0:.0f} s]", flush=True)
        doc["models"][name] = mdoc
    out = os.path.join(common.REFERENCE_DIR, "attacks_minnorm.json")
    out = os.environ.get("OUT", out)  # e.g. one file per model when run in parallel
    if only and os.path.exists(out):
        with open(out) as f:
            old = json.load(f)
        old["models"].update(doc["models"])
        doc["models"] = old["models"]
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
