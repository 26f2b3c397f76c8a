"""Dynamic int8 quantization of the constant-weight MatMuls (and Gemms) of an ONNX graph.

What: every MatMul whose second input is a constant weight W[K, N] (an initializer or a
Constant, possibly behind Cast (e.g. the exporter's fp16 -> fp32), Transpose or Identity) is
rewritten, following the ONNX operator specs, into

    DynamicQuantizeLinear(A)                     -> A_q (uint8), a_scale, a_zero_point
    MatMulInteger(A_q, W_q, a_zero_point, w_zp)  -> int32    W_q: int8 (or uint8), stored
    Cast(to=FLOAT)                               -> float
    Mul(a_scale, w_scale)                        -> scale    w_scale: per output column [N]
    Mul(float, scale)                            -> the MatMul's original output tensor

A Gemm with a constant B becomes the same chain (transB folded into W, alpha folded into
w_scale) plus an Add of beta*C. Activations are quantized per tensor at run time (that is what
makes it "dynamic": no calibration data needed); weights are quantized offline, symmetric
per output column by default (`w_zero_point` is then a vector of zeros, as MatMulInteger
allows a per-column b_zero_point). Graph inputs, outputs, their names and shapes are unchanged.

Why: onnxruntime's CPU graph optimizer (graphOptimizationLevel "all" / ORT_ENABLE_ALL) fuses
this exact chain (with the bias Add after it) into its DynamicQuantizeMatMul /
MatMulIntegerToFloat kernels, which run int8 GEMMs (VNNI where the CPU has it) on weights a
quarter of the fp32 size. The SoundStorm acoustic model is dominated by such MatMuls.

Not quantized: MatMuls whose weight is computed at run time (e.g. attention score/value
products, or a weight picked by a Gather on a run-time index such as SoundStorm's per-level
output head), Gathers (embeddings stay as they are), Conv. Only the top-level graph is
rewritten (subgraphs of If/Loop are left alone). Activations must be float32 (the spec's
DynamicQuantizeLinear only takes float32); MatMuls with float16 activations are skipped.

Usage (Debian's python3 with the `onnx` and `numpy` packages; no onnxruntime needed):

    /usr/bin/python3 models/tools/quantize_int8.py models/default/soundstorm.onnx /tmp/sq/soundstorm.onnx
    # keep some MatMuls in float (regex, searched in node name, output name and weight name)
    /usr/bin/python3 models/tools/quantize_int8.py IN.onnx OUT.onnx --exclude 'attn/out' --exclude '^/MatMul$'
    # options: --min-weight-elems N (skip small weights), --per-tensor (one scale per weight),
    #          --weight-type uint8 (asymmetric uint8 weights), --reduce-range (7-bit weights, for
    #          CPUs without VNNI whose u8*s8 kernels can saturate 16-bit intermediates), -v

The result is checked with onnx.checker (full check, with shape inference) and a summary is
printed: MatMuls quantized/skipped (with reasons) and file/weight sizes before and after.
Check speed and output agreement in onnxruntime itself before shipping a quantized graph.
"""
import argparse
import os
import re
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT_TYPES = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16, TensorProto.DOUBLE: np.float64}


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def subgraph_refs(graph, out):
    """Names read by nodes of subgraphs (If/Loop/Scan bodies) anywhere under `graph`."""
    for n in graph.node:
        for a in n.attribute:
            gs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
            for g in gs:
                for m in g.node:
                    out.update(m.input)
                subgraph_refs(g, out)
    return out


class Quantizer:
    def __init__(self, model, exclude=(), min_elems=0, per_channel=True, weight_type="int8",
                 reduce_range=False, verbose=False):
        self.model = model
        self.g = model.graph
        self.exclude = [re.compile(p) for p in exclude]
        self.min_elems = min_elems
        self.per_channel = per_channel
        self.weight_type = weight_type
        self.reduce_range = reduce_range
        self.verbose = verbose
        self.inits = {t.name: t for t in self.g.initializer}
        self.producer = {o: n for n in self.g.node for o in n.output}
        self.names = {n.name for n in self.g.node} | set(self.inits) | {o for n in self.g.node for o in n.output}
        self.names |= {i.name for i in self.g.input} | {o.name for o in self.g.output}
        self.new_inits = []
        self.weight_chain = set()     # ids of nodes/initializer names that fed a quantized weight
        self.quantized = []           # (node name, K, N, weight rel. rms error)
        self.skipped = []             # (node name, reason)
        inferred = onnx.shape_inference.infer_shapes(model)
        self.elem_type = {}
        for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
            self.elem_type[vi.name] = vi.type.tensor_type.elem_type
        for t in self.g.initializer:
            self.elem_type[t.name] = t.data_type

    # ---------------------------------------------------------------- helpers
    def unique(self, base):
        name, i = base, 0
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def add_init(self, array, base):
        name = self.unique(base)
        self.new_inits.append(numpy_helper.from_array(array, name))
        return name

    def resolve_const(self, name):
        """(float32 array, [chain: producer nodes and initializer names]) if `name` is a constant
        computed only through Cast / Transpose / Identity from an initializer or Constant, else None."""
        if name in self.inits:
            arr = numpy_helper.to_array(self.inits[name])
            return (arr, [name]) if arr.dtype.kind == "f" else None
        if any(i.name == name for i in self.g.input):
            return None
        n = self.producer.get(name)
        if n is None:
            return None
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            arr = numpy_helper.to_array(n.attribute[0].t)
            return (arr, [n]) if arr.dtype.kind == "f" else None
        if n.op_type in ("Cast", "Transpose", "Identity"):
            r = self.resolve_const(n.input[0])
            if r is None:
                return None
            arr, chain = r
            if n.op_type == "Cast":
                to = attr(n, "to")
                if to not in FLOAT_TYPES:
                    return None
                arr = arr.astype(FLOAT_TYPES[to])
            elif n.op_type == "Transpose":
                perm = attr(n, "perm")
                arr = np.transpose(arr, perm if perm is not None else None)
            return arr, chain + [n]
        return None

    def excluded(self, node, weight_name):
        keys = [node.name, node.output[0], weight_name]
        return any(p.search(k) for p in self.exclude for k in keys if k)

    def quantize_weight(self, w):
        """w: float32 [K, N] -> (w_q, scale [N] or scalar float32, zero point [N] or scalar)."""
        axis_reduce = 0 if self.per_channel else None
        if self.weight_type == "int8":
            qmax = 63 if self.reduce_range else 127
            amax = np.max(np.abs(w), axis=axis_reduce)
            scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
            q = np.clip(np.rint(w / scale), -qmax, qmax).astype(np.int8)
            zp = np.zeros_like(scale, dtype=np.int8)
        else:  # uint8, asymmetric; the range always holds 0 so that 0.0 is exact
            qmax = 127 if self.reduce_range else 255
            lo = np.minimum(np.min(w, axis=axis_reduce), 0.0)
            hi = np.maximum(np.max(w, axis=axis_reduce), 0.0)
            scale = np.where(hi > lo, (hi - lo) / qmax, 1.0).astype(np.float32)
            zp = np.clip(np.rint(-lo / scale), 0, qmax).astype(np.float32)
            q = np.clip(np.rint(w / scale) + zp, 0, qmax).astype(np.uint8)
            zp = zp.astype(np.uint8)
        deq = (q.astype(np.float32) - zp.astype(np.float32)) * scale
        rel = float(np.sqrt(np.mean((deq - w) ** 2)) / (np.sqrt(np.mean(w ** 2)) + 1e-12))
        return q, np.asarray(scale, np.float32), np.asarray(zp), rel

    # ---------------------------------------------------------------- rewriting
    def rewrite(self, node):
        """New nodes replacing `node`, or None (reason recorded in self.skipped)."""
        label = node.name or node.output[0]
        a_name, b_name = node.input[0], node.input[1]
        r = self.resolve_const(b_name)
        if r is None:
            self.skipped.append((label, "weight is not a constant"))
            return None
        w, chain = r
        weight_label = chain[0] if isinstance(chain[0], str) else b_name
        if self.excluded(node, weight_label):
            self.skipped.append((label, "excluded"))
            return None
        if self.elem_type.get(a_name, TensorProto.FLOAT) != TensorProto.FLOAT:
            self.skipped.append((label, "activation is not float32"))
            return None
        alpha, bias = 1.0, None
        if node.op_type == "Gemm":
            if attr(node, "transA", 0):
                self.skipped.append((label, "Gemm with transA"))
                return None
            if attr(node, "transB", 0):
                w = w.T
            alpha, beta = float(attr(node, "alpha", 1.0)), float(attr(node, "beta", 1.0))
            if len(node.input) > 2 and node.input[2] and beta != 0.0:
                rc = self.resolve_const(node.input[2])
                if rc is not None:
                    bias = ("const", (rc[0].astype(np.float32) * beta))
                elif beta == 1.0:
                    bias = ("tensor", node.input[2])
                else:
                    self.skipped.append((label, "Gemm with non-constant C and beta != 1"))
                    return None
        if w.ndim != 2:
            self.skipped.append((label, f"weight has rank {w.ndim}"))
            return None
        if w.size < self.min_elems:
            self.skipped.append((label, f"weight has {w.size} < {self.min_elems} elements"))
            return None
        w = w.astype(np.float32)
        K, N = w.shape
        q, scale, zp, rel = self.quantize_weight(w)
        base = re.sub(r"[^A-Za-z0-9_./:-]", "_", label)
        wq = self.add_init(q, base + "_W_quantized")
        wzp = self.add_init(zp, base + "_W_zero_point")
        wsc = self.add_init((scale * np.float32(alpha)).astype(np.float32), base + "_W_scale")
        aq, asc, azp = (self.unique(base + s) for s in ("_A_quantized", "_A_scale", "_A_zero_point"))
        mm_i32, mm_f, sc = (self.unique(base + s) for s in ("_int32", "_int32_float", "_scale"))
        out = node.output[0]
        y = out if bias is None else self.unique(base + "_no_bias")
        nodes = [
            helper.make_node("DynamicQuantizeLinear", [a_name], [aq, asc, azp], name=self.unique(base + "_quant")),
            helper.make_node("MatMulInteger", [aq, wq, azp, wzp], [mm_i32], name=self.unique(base + "_MatMulInteger")),
            helper.make_node("Cast", [mm_i32], [mm_f], to=TensorProto.FLOAT, name=self.unique(base + "_cast")),
            helper.make_node("Mul", [asc, wsc], [sc], name=self.unique(base + "_scale_mul")),
            helper.make_node("Mul", [mm_f, sc], [y], name=self.unique(base + "_output_mul")),
        ]
        if bias is not None:
            c = self.add_init(bias[1], base + "_bias") if bias[0] == "const" else bias[1]
            nodes.append(helper.make_node("Add", [y, c], [out], name=self.unique(base + "_bias_add")))
            if bias[0] == "const":
                chain = chain + (self.resolve_const(node.input[2])[1])
        for c in chain:
            self.weight_chain.add(c if isinstance(c, str) else id(c))
        self.quantized.append((label, K, N, rel))
        if self.verbose:
            print(f"  quantized {label}: [{K}x{N}] weight rel. rms error {rel:.4f}")
        return nodes

    def run(self):
        out_nodes = []
        for node in self.g.node:
            new = None
            if node.op_type in ("MatMul", "Gemm") and len(node.input) >= 2:
                new = self.rewrite(node)
            out_nodes.extend(new if new is not None else [node])
        # drop the Cast/Transpose/Constant nodes and initializers that only fed quantized weights
        keep_refs = subgraph_refs(self.g, set()) | {o.name for o in self.g.output}
        while True:
            used = keep_refs | {i for n in out_nodes for i in n.input}
            dead = [n for n in out_nodes if id(n) in self.weight_chain and not any(o in used for o in n.output)]
            if not dead:
                break
            dead_ids = {id(n) for n in dead}
            out_nodes = [n for n in out_nodes if id(n) not in dead_ids]
        used = keep_refs | {i for n in out_nodes for i in n.input}
        graph_inputs = {i.name for i in self.g.input}
        removed_inits = [t for t in self.g.initializer
                         if t.name in self.weight_chain and t.name not in used and t.name not in graph_inputs]
        removed_names = {t.name for t in removed_inits}
        kept_inits = [t for t in self.g.initializer if t.name not in removed_names]
        del self.g.node[:]
        self.g.node.extend(out_nodes)
        del self.g.initializer[:]
        self.g.initializer.extend(kept_inits + self.new_inits)
        produced = {o for n in out_nodes for o in n.output}
        vis = [v for v in self.g.value_info if v.name in produced]
        del self.g.value_info[:]
        self.g.value_info.extend(vis)
        return removed_inits


def io_signature(model):
    def sig(vs):
        return [(v.name, v.type.tensor_type.elem_type,
                 [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in vs]
    return sig(model.graph.input), sig(model.graph.output)


def init_bytes(model):
    return sum(len(t.raw_data) if t.raw_data else numpy_helper.to_array(t).nbytes for t in model.graph.initializer)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="float ONNX model")
    ap.add_argument("output", help="where to write the quantized model (its directory is created)")
    ap.add_argument("--exclude", action="append", default=[], metavar="REGEX",
                    help="keep MatMuls whose node name, output name or weight name matches (repeatable)")
    ap.add_argument("--min-weight-elems", type=int, default=4096,
                    help="keep MatMuls with smaller weights in float (default 4096)")
    ap.add_argument("--per-tensor", action="store_true", help="one weight scale per MatMul instead of per column")
    ap.add_argument("--weight-type", choices=("int8", "uint8"), default="int8",
                    help="int8: symmetric (default; ORT's fastest u8s8 kernels); uint8: asymmetric")
    ap.add_argument("--reduce-range", action="store_true",
                    help="7-bit weights, for x86 CPUs without VNNI (avoids u8*s8 16-bit saturation)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every quantized MatMul")
    a = ap.parse_args()

    model = onnx.load(a.input)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 11:
        sys.exit(f"opset {opset} < 11: DynamicQuantizeLinear needs opset 11 or newer")
    size_before = os.path.getsize(a.input)
    before_sig = io_signature(model)
    before_init = init_bytes(model)
    q = Quantizer(model, a.exclude, a.min_weight_elems, not a.per_tensor, a.weight_type, a.reduce_range, a.verbose)
    removed = q.run()
    if io_signature(model) != before_sig:
        sys.exit("internal error: graph inputs/outputs changed")
    onnx.checker.check_model(model, full_check=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    onnx.save(model, a.output)

    mm_total = len(q.quantized) + len(q.skipped)
    print(f"quantized {len(q.quantized)} of {mm_total} MatMul/Gemm nodes "
          f"({'per-column' if not a.per_tensor else 'per-tensor'} {a.weight_type} weights"
          f"{', reduced range' if a.reduce_range else ''}, uint8 dynamic activations)")
    if q.quantized:
        rels = [r for *_, r in q.quantized]
        elems = sum(k * n for _, k, n, _ in q.quantized)
        print(f"  weights quantized: {elems:,} elements; relative rms weight error mean {np.mean(rels):.4f}, "
              f"max {np.max(rels):.4f}")
    reasons = {}
    for name, why in q.skipped:
        reasons.setdefault(why, []).append(name)
    for why, names in reasons.items():
        shown = ", ".join(names[:4]) + (f", ... (+{len(names) - 4})" if len(names) > 4 else "")
        print(f"  kept in float ({why}): {len(names)}: {shown}")
    print(f"  initializers removed: {len(removed)}, added: {len(q.new_inits)}")
    sb, sa = size_before, os.path.getsize(a.output)
    print(f"  initializer bytes: {before_init:,} -> {init_bytes(model):,}")
    print(f"  file size: {sb:,} -> {sa:,} bytes ({sa / sb:.2f}x)")
    print(f"  wrote {a.output} (onnx.checker: ok; inputs/outputs unchanged)")


if __name__ == "__main__":
    main()
