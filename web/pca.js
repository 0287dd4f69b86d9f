// pca.js: 2-D principal component projection of a few vectors, by power iteration on the
// covariance (d x d would be 300 x 300: iterate on X^T (X v) instead, never forming it).

const PCA_ITERS = 100;   // power iterations per component; converges far sooner for n <= 50
const PCA_EPS = 1e-12;   // below this a component has no variance left

function dot(a, b) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; }

// Leading eigenvector of X^T X (rows of X centred), orthogonal to the vectors in 'against'.
function component(X, d, against) {
  let v = new Float64Array(d);
  for (let i = 0; i < d; i++) v[i] = Math.sin(i * 12.9898 + 78.233) + 0.5; // deterministic start
  for (let it = 0; it < PCA_ITERS; it++) {
    for (const u of against) { const p = dot(v, u); for (let i = 0; i < d; i++) v[i] -= p * u[i]; }
    const w = new Float64Array(d);
    for (const x of X) { const p = dot(x, v); for (let i = 0; i < d; i++) w[i] += p * x[i]; }
    for (const u of against) { const p = dot(w, u); for (let i = 0; i < d; i++) w[i] -= p * u[i]; }
    const n = Math.sqrt(dot(w, w));
    if (n < PCA_EPS) return null;
    for (let i = 0; i < d; i++) w[i] /= n;
    v = w;
  }
  return v;
}

// vectors: array of equal-length number arrays. Returns [[x, y], ...], one point per vector.
export function pca2(vectors) {
  const n = vectors.length;
  if (n === 0) return [];
  const d = vectors[0].length;
  const mean = new Float64Array(d);
  for (const v of vectors) for (let i = 0; i < d; i++) mean[i] += v[i] / n;
  const X = vectors.map(v => Float64Array.from(v, (x, i) => x - mean[i]));
  const c1 = component(X, d, []);
  const c2 = c1 ? component(X, d, [c1]) : null;
  return X.map(x => [c1 ? dot(x, c1) : 0, c2 ? dot(x, c2) : 0]);
}
