// The runtime shim: URLs that page scripts build at run time never pass through our body
// rewriting, so the page routes them itself. It mirrors UrlMapper.map for what a script can
// build without knowing where Zenzefi is: a root-relative path gets the prefix once, and so does
// an absolute URL on the page's own origin (http(s) or ws(s)) that lacks it — SockJS and
// `new Request('/x')` resolve paths against location before they reach fetch/XHR/WebSocket.
//
// It carries nothing but the prefix: every proxied page embeds it, so naming the upstream there
// would tell every customer where the tunnel ends. Absolute upstream URLs that appear as
// literals in HTML, CSS, JS or JSON are rewritten before the page sees them (text.ts, html.ts);
// an upstream URL a script assembles from pieces at run time is not routed (dropped on purpose).
import type { UrlMapper } from './url-mapper'

/** Attribute that marks our script, so a second rewrite pass can replace it instead of adding one. */
export const SHIM_ATTRIBUTE = 'data-zenzefi-shim'

// ES5 on purpose: it runs before any of the page's own scripts, in whatever browser the user has.
const SOURCE = `(function(w,C){
if(w.__zenzefiShim)return;w.__zenzefiShim=1;
var P=C.p,L=w.location,S=P&&L&&L.origin||'',sl=[].slice;
function ws(o){return o.replace(/^http/i,'ws')}
function pre(p){var r=p.charAt(P.length);return !P||p.slice(0,P.length)===P&&(!r||'/?#'.indexOf(r)>=0)?p:P+p}
function abs(u,o){if(u.slice(0,o.length).toLowerCase()!==o.toLowerCase())return null;var r=u.slice(o.length);if(r&&'/?#'.indexOf(r.charAt(0))<0)return null;return o+pre(r.charAt(0)==='/'?r:'/'+r)}
function map(u){var s=typeof u==='string'?u:u&&typeof u==='object'&&typeof u.href==='string'?u.href:null;if(s===null)return u;var t=s.trim(),c=t.charAt(1),r;
if(t.charAt(0)==='/'&&c!=='/'&&c!=='\\\\')return pre(t);
if(S&&(r=abs(t,S)||abs(t,ws(S))))return r;return u}
function M(u){try{return map(u)}catch(e){return u}}
var F=w.fetch;if(F)w.fetch=function(i){var a=sl.call(arguments);try{if(w.Request&&i instanceof w.Request){var n=M(i.url);if(n!==i.url)a[0]=new w.Request(n,i)}else a[0]=M(i)}catch(e){}return F.apply(w,a)};
var X=w.XMLHttpRequest&&w.XMLHttpRequest.prototype,XO=X&&X.open;if(XO)X.open=function(){var a=sl.call(arguments);a[1]=M(a[1]);return XO.apply(this,a)};
function wrap(n,k){var N=w[n];if(!N)return;var W=function(u){var a=sl.call(arguments);a[0]=M(u);return Reflect.construct(N,a)};
W.prototype=N.prototype;for(var j=0;j<k.length;j++)W[k[j]]=N[k[j]];try{Object.defineProperty(W,'name',{value:n});Object.setPrototypeOf(W,N)}catch(e){}w[n]=W}
wrap('WebSocket',['CONNECTING','OPEN','CLOSING','CLOSED']);wrap('EventSource',['CONNECTING','OPEN','CLOSED']);
var H=w.history;['pushState','replaceState'].forEach(function(k){var f=H&&H[k];if(f)H[k]=function(){var a=sl.call(arguments);if(a.length>2&&a[2]!=null)a[2]=M(a[2]);return f.apply(this,a)}});
})(window,CONFIG);`

/** JSON that is also safe inside an HTML <script> (no `</script>`, `<!--`) and in pre-ES2019 JS. */
const scriptSafeJson = (v: unknown) =>
  JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')

/** The JavaScript alone (what goes inside the <script> element). Its only setting is the prefix. */
export function shimSource(mapper: UrlMapper): string {
  return SOURCE.replace(/\n/g, '').replace('CONFIG', () => scriptSafeJson({ p: mapper.prefix }))
}

export function shimScript(mapper: UrlMapper): string {
  return `<script ${SHIM_ATTRIBUTE}>${shimSource(mapper)}</script>`
}
