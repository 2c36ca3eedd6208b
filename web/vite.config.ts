import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// A static build for jit-local (served at /) and for the S3 bucket behind CloudFront: no
// inline script (the CSP allows only 'self'), so no module-preload polyfill either.
export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: 'dist',
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
});
