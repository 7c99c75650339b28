/** The demo page's Content-Security-Policy (demo/csp.mjs). */
export declare const CSP: string;
