(function(){
var L=document.getElementById("live"),S=document.getElementById("say");
if(!L)return;
var src=L.getAttribute("data-events"),every=1000*(+L.getAttribute("data-poll")||20),
last=null,said=L.getAttribute("data-say"),es=null,timer=null;
function show(d){
if(d.gone){location.reload();return}
if(d.html!=null&&d.html!==last){L.innerHTML=d.html;last=d.html}
if(d.say!=null){if(S&&d.say&&d.say!==said)S.textContent=d.say;said=d.say}
}
function poll(){
fetch(location.href,{cache:"no-store",credentials:"omit"}).then(function(r){
if(r.status==404){location.reload();return ""}
return r.ok?r.text():""
}).then(function(t){
if(!t)return;
var n=new DOMParser().parseFromString(t,"text/html").getElementById("live");
if(n)show({html:n.innerHTML,say:n.getAttribute("data-say")})
}).catch(function(){})
}
function fallback(){
if(es){es.close();es=null}
if(!timer)timer=setInterval(poll,every)
}
if(src&&window.EventSource){
es=new EventSource(src);
es.onmessage=function(e){try{show(JSON.parse(e.data))}catch(x){}};
es.onerror=fallback
}else fallback()
})();
